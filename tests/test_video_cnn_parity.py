"""The CNN video encoders against their PyTorch originals beyond the paper's setting.

`test_video_paper_parity.py` checks every encoder's head at the paper's 5 x 224 x 224 clips; the
tests here cover what that does not, at small clips: 'features' output, training-mode BatchNorm,
remat and bfloat16, sharded batch statistics and conversion errors. The originals have random
weights and every constant tensor drawn (`randomize`); float32 relative error
||jax - torch|| / ||torch|| <= 1e-4.
"""

import numpy as np
import pytest

import torch  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
from flax import nnx

import jaxlens.models.video  # pylint: disable=unused-import
from jaxlens.convert.pretrained import load_torch
from jaxlens.errors import JaxlensError
from jaxlens.models.video import registry
import torch_references.video as torch_reference
from torch_references.video import state_dict
from tests.video_helpers import (jax_forward, random_clips, relative_error, torch_classifier_input,
                                 torch_forward)

# pylint: enable=g-import-not-at-top,wrong-import-position

pytestmark = pytest.mark.slow  # full-size CNNs against their PyTorch originals

TOLERANCE = 1e-4
FRAMES, SIZE = 5, 64  # 5 frames as the paper; 64 px leaves a 2x2 final map to pool


def _reference(name: str, frames: int = FRAMES, size: int = SIZE):
  torch.manual_seed(0)
  return torch_reference.randomize(torch_reference.build(name, frames, size))


def _clip(batch: int = 2, frames: int = FRAMES, size: int = SIZE) -> np.ndarray:
  return random_clips(batch, frames, size)


def _view(model, train: bool):
  return nnx.view(model, deterministic=True, use_running_average=not train,
                  raise_if_not_found=False)


@pytest.mark.parametrize('name', ('c2d_r50', 'x3d_xs'))
def test_eval_features_match_torch_classifier_input(name):
  """'features' = the classifier's input averaged over its positions; head tensors are dropped."""
  reference = _reference(name)
  clip = _clip()
  expected = torch_classifier_input(reference, clip)
  model = load_torch(registry.get(name), state_dict(reference), 'features', rngs=nnx.Rngs(0))
  assert not hasattr(model, 'head') or model.head is None
  actual = jax_forward(_view(model, train=False), jnp.asarray(clip))
  assert actual.shape == (2, registry.get(name).feature_dim)
  assert relative_error(actual, expected) <= TOLERANCE


def test_training_mode_batch_norm_matches_torch_train():
  """Batch statistics in the forward pass and PyTorch's running-stat update (unbiased var)."""
  name = 'x3d_xs'
  reference = _reference(name)
  model = load_torch(registry.get(name), state_dict(reference), rngs=nnx.Rngs(0))
  for module in reference.modules():
    if isinstance(module, torch.nn.Dropout):
      module.p = 0.0
  reference.train()
  view = _view(model, train=True)
  clip = _clip()
  expected = torch_forward(reference, clip)
  actual = jax_forward(view, jnp.asarray(clip))
  assert relative_error(actual, expected) <= TOLERANCE
  updated = registry.get(name).from_torch(state_dict(reference), 'head')
  stats = nnx.to_flat_state(nnx.state(view, nnx.BatchStat))
  assert len(stats) > 100
  for path, var in stats:
    key = '.'.join(str(p) for p in path)
    np.testing.assert_allclose(var.get_value(), updated[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_remat_and_bfloat16_keep_the_function():
  name = 'r3d_18'
  state = state_dict(_reference(name))
  clip = jnp.asarray(_clip(frames=4, size=32))
  spec = registry.get(name)

  def loss_and_grads(model):
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(p, r):
      # copy=True: fresh Variables at this trace level, so nnx.remat may update BatchNorm stats.
      return jnp.sum(jnp.square(nnx.merge(graphdef, p, r, copy=True)(clip)))

    return jax.jit(jax.value_and_grad(loss))(params, rest)  # one program, not op by op

  plain = load_torch(spec, state, rngs=nnx.Rngs(0))
  remat = load_torch(spec, state, rngs=nnx.Rngs(0), remat=True)
  loss, grads = loss_and_grads(_view(plain, train=True))
  remat_loss, remat_grads = loss_and_grads(_view(remat, train=True))
  np.testing.assert_allclose(remat_loss, loss, rtol=1e-5)
  # Recomputation fuses differently: compare each gradient tensor as a whole.
  for g, h in zip(jax.tree.leaves(grads), jax.tree.leaves(remat_grads)):
    assert relative_error(h, np.asarray(g)) <= 1e-4

  bf16 = load_torch(spec, state, rngs=nnx.Rngs(0), dtype=jnp.bfloat16)
  float32 = load_torch(spec, state, rngs=nnx.Rngs(0))  # `plain` ran in training mode above
  float32_out = jax_forward(_view(float32, train=False), clip)
  bf16_out = jax_forward(_view(bf16, train=False), clip)
  assert jax.tree.leaves(nnx.state(bf16, nnx.Param))[0].dtype == jnp.float32
  assert 0 < relative_error(bf16_out, np.asarray(float32_out)) <= 3e-2


def test_batch_statistics_are_global_when_the_batch_is_sharded():
  """Under jax.jit on a batch sharded over 8 devices, BatchNorm is SyncBatchNorm."""
  if jax.device_count() < 8:
    pytest.skip('needs the 8 simulated CPU devices of conftest.py')
  model = load_torch(registry.get('r3d_18'), state_dict(_reference('r3d_18')), rngs=nnx.Rngs(0))
  graphdef, state = nnx.split(_view(model, train=True))
  forward = jax.jit(lambda s, x: nnx.merge(graphdef, s, copy=True)(x))
  clip = jnp.asarray(_clip(batch=8, frames=2, size=32))
  mesh = jax.make_mesh((8,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
  sharded = jax.device_put(clip, jax.sharding.NamedSharding(mesh, jax.P('data')))
  assert len(sharded.addressable_shards) == 8
  whole = np.asarray(forward(state, clip))
  assert relative_error(forward(state, sharded), whole) <= 1e-5
  # Per-device statistics would differ: the first clip alone normalises differently.
  assert relative_error(forward(state, clip[:1]), whole[:1]) > 1e-2


@pytest.fixture(scope='module')
def r3d_state():
  return state_dict(_reference('r3d_18'))


def test_conversion_drops_only_the_replaced_fc(r3d_state):
  spec = registry.get('r3d_18')
  with_fc = dict(r3d_state, **{'fc.weight': np.zeros((400, 512), np.float32),
                               'fc.bias': np.zeros((400,), np.float32)})
  assert spec.from_torch(with_fc, 'head').keys() == spec.from_torch(r3d_state, 'head').keys()


def test_conversion_reports_a_missing_tensor(r3d_state):
  state = dict(r3d_state)
  del state['layer3.1.conv2.1.running_var']
  with pytest.raises(JaxlensError, match=r'missing tensor layer3\.1\.conv2\.1\.running_var'):
    registry.get('r3d_18').from_torch(state, 'head')


def test_conversion_reports_an_unexpected_tensor(r3d_state):
  state = dict(r3d_state, **{'layer5.0.conv1.0.weight': np.zeros((1,), np.float32)})
  with pytest.raises(JaxlensError, match=r'unexpected tensor\(s\) layer5\.0\.conv1\.0\.weight'):
    registry.get('r3d_18').from_torch(state, 'head')


def test_conversion_reports_a_misshaped_tensor(r3d_state):
  state = dict(r3d_state)
  state['layer2.0.downsample.0.weight'] = np.zeros((128, 32, 1, 1, 1), np.float32)
  with pytest.raises(JaxlensError, match=r'layer2\.0\.downsample\.0\.weight.*\(1, 1, 1, 32, 128\)'):
    registry.get('r3d_18').from_torch(state, 'head')


def test_features_mode_still_rejects_tensors_outside_the_classifier():
  spec = registry.get('c2d_r50')
  state = state_dict(torch_reference.build('c2d_r50', 2, 32))
  assert 'blocks.6.proj.weight' in state
  assert not any(k.startswith('head.') for k in spec.from_torch(state, 'features'))
  with pytest.raises(JaxlensError, match=r'missing tensor blocks\.6\.proj\.weight'):
    spec.from_torch({k: v for k, v in state.items() if not k.startswith('blocks.6.')}, 'head')
  state['blocks.6.extra'] = np.zeros((1,), np.float32)
  spec.from_torch(state, 'features')  # under the classifier prefix: dropped
  with pytest.raises(JaxlensError, match=r'blocks\.6\.extra'):
    spec.from_torch(state, 'head')  # but the head uses the classifier: strict
  state['blocks.7.extra'] = np.zeros((1,), np.float32)
  with pytest.raises(JaxlensError, match=r'blocks\.7\.extra'):
    spec.from_torch(state, 'features')
