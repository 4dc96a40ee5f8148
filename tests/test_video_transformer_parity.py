"""MViT-B and VideoMAE against their PyTorch originals beyond the paper's setting.

`test_video_paper_parity.py` checks their heads at the paper's 5 x 224 x 224 clips; the tests here
cover 'features' output, bf16, remat, training mode, checkpoint position tables and freezing, at
full width and depth (so the real converters run) on 5 x 32 x 32 clips to keep CPU time small.
Random weights, eval mode, fp32.
"""

import numpy as np
import pytest
import torch
import jax.numpy as jnp
from flax import nnx

from jaxlens.convert.pretrained import load_torch
from jaxlens.errors import JaxlensError
from jaxlens.models.video import freezing, mvit, registry
import torch_references.video as torch_reference
from torch_references.video import randomize, state_dict
from jaxlens.models.video.transformer import run_blocks
from tests.video_helpers import jax_forward as forward
from tests.video_helpers import random_clips, relative_error, torch_forward

pytestmark = pytest.mark.slow  # full-size transformers against their PyTorch originals

FRAMES, CROP = 5, 32
TOLERANCE = 1e-4  # relative L2 error, fp32


def converted(name: str, torch_state, output: str, **options) -> nnx.Module:
  model = load_torch(registry.get(name), torch_state, output, rngs=nnx.Rngs(0), num_frames=FRAMES,
                     crop_size=CROP, **options)
  return nnx.view(model, deterministic=True, raise_if_not_found=False)  # VideoMAE has no dropout


@pytest.fixture(scope='module')
def clips() -> np.ndarray:
  return random_clips(2, FRAMES, CROP)


@pytest.fixture(scope='module')
def mvit_torch():
  """q/k/v projections scaled down: the pooled q/k/v then have a small variance, so the eps of
  the LayerNorms after pooling shows (0.1.5's 1e-5 for the reference's 1e-6: error 3e-2)."""
  model = randomize(torch_reference.build('mvit_b_16x4', FRAMES, CROP))
  with torch.no_grad():
    for block in model.blocks:
      for projection in (block.attn.q, block.attn.k, block.attn.v):
        projection.weight.mul_(0.1)
        projection.bias.mul_(0.1)
  return model


@pytest.fixture(scope='module')
def mvit_reference(mvit_torch, clips):
  """Torch head logits and normalised CLS token (the 'features')."""
  captured = {}
  hook = mvit_torch.norm_embed.register_forward_hook(
      lambda module, args, out: captured.update(features=out[:, 0].numpy()))
  logits = torch_forward(mvit_torch, clips)
  hook.remove()
  return {'head': logits, 'features': captured['features']}


def test_mvit_features_match_pytorchvideo(mvit_torch, mvit_reference, clips):
  out = forward(converted('mvit_b_16x4', state_dict(mvit_torch), 'features'), clips)
  assert out.shape == (2, registry.get('mvit_b_16x4').feature_dim)
  assert relative_error(out, mvit_reference['features']) <= TOLERANCE


def test_mvit_features_drop_exactly_the_head(mvit_torch):
  spec = registry.get('mvit_b_16x4')
  kwargs = {'num_frames': FRAMES, 'crop_size': CROP}
  head = spec.from_torch(state_dict(mvit_torch), 'head', **kwargs)
  features = spec.from_torch(state_dict(mvit_torch), 'features', **kwargs)
  assert sorted(set(head) - set(features)) == ['head.bias', 'head.kernel']


def test_mvit_bf16_and_remat_stay_close(mvit_torch, mvit_reference, clips):
  model = converted('mvit_b_32x3', state_dict(mvit_torch), 'head', dtype=jnp.bfloat16,
                    remat=True)
  assert all(p.get_value().dtype == jnp.float32 for _, p in nnx.to_flat_state(nnx.state(model,
                                                                                 nnx.Param)))
  out = forward(model, clips)
  assert relative_error(out, mvit_reference['head']) <= 5e-2  # bf16 has 8 mantissa bits


def test_mvit_training_mode_is_stochastic(mvit_torch, mvit_reference, clips):
  """Head dropout and stochastic depth are live outside `nnx.view(deterministic=True)`; the eval
  view is the reference's model. The converted weights fill a model built with stochastic depth
  (a randomly initialised MViT-B would compile each of its ~300 initialisers)."""
  spec = registry.get('mvit_b_16x4')
  model = nnx.eval_shape(lambda: spec.build(output='head', rngs=nnx.Rngs(0), num_frames=FRAMES,
                                            crop_size=CROP, drop_path_rate=0.2))
  nnx.update(model, nnx.state(load_torch(spec, state_dict(mvit_torch), 'head', rngs=nnx.Rngs(0),
                                         num_frames=FRAMES, crop_size=CROP)))
  assert not np.allclose(forward(model, clips), forward(model, clips))  # fresh masks per call
  evaluation = nnx.view(model, deterministic=True)
  assert relative_error(forward(evaluation, clips), mvit_reference['head']) <= TOLERANCE


def test_mvit_scale_block_differentiates_under_remat():
  """A scale block (pooled queries, max-pooled residual, widening) under remat: finite, nonzero
  gradients for every parameter (the full model is too slow to differentiate in CI)."""
  grid = mvit.token_grid(FRAMES, CROP)
  block = mvit.MultiscaleBlock(1, grid, 0.1, dtype=jnp.float32, rngs=nnx.Rngs(0))
  tokens = np.random.default_rng(2).standard_normal((2, 1 + int(np.prod(grid)), 192))

  def loss(block, x):
    return jnp.mean(run_blocks([block], x, remat=True)**2)

  grads = nnx.jit(nnx.grad(loss))(block, jnp.asarray(tokens, jnp.float32))
  for path, grad in nnx.to_flat_state(grads):
    value = np.asarray(grad.get_value())
    assert np.isfinite(value).all() and np.abs(value).sum() > 0, path


def test_mvit_checkpoint_temporal_positions_are_resampled(mvit_torch):
  state = state_dict(mvit_torch)
  eight = np.random.default_rng(1).standard_normal((1, 8, 96)).astype(np.float32)
  state['cls_positional_encoding.pos_embed_temporal'] = eight
  flat = mvit.from_torch(state, 'head', num_frames=FRAMES, crop_size=CROP)
  expected = torch.nn.functional.interpolate(
      torch.from_numpy(eight).permute(0, 2, 1), size=3, mode='linear', align_corners=False)
  np.testing.assert_allclose(flat['pos_embed_temporal'], expected[0].T.numpy(), rtol=1e-5,
                             atol=1e-6)


def test_resample_positions_on_a_known_array():
  table = np.arange(8, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
  # Cell centres: output i reads source (i + 0.5) * 8 / 3 - 0.5.
  np.testing.assert_allclose(mvit.resample_positions(table, 3)[:, 0], [5 / 6, 3.5, 37 / 6],
                             rtol=1e-6)
  np.testing.assert_array_equal(mvit.resample_positions(table, 8), table)


@pytest.fixture(scope='module')
def videomae_torch():
  return randomize(torch_reference.build('videomae_b', FRAMES, CROP))


@pytest.fixture(scope='module')
def videomae_features(videomae_torch):
  """The converted VideoMAE-B, built once: the tests below share it and its compiled forward
  (a randomly initialised one would compile each of its ~200 initialisers)."""
  return converted('videomae_b', state_dict(videomae_torch), 'features')


def test_videomae_features_and_bf16_match_transformers(videomae_torch, videomae_features, clips):
  expected = torch_forward(videomae_torch, clips)
  assert relative_error(forward(videomae_features, clips), expected) <= TOLERANCE
  bf16 = converted('videomae_b', state_dict(videomae_torch), 'head', dtype=jnp.bfloat16,
                   remat=True)
  assert relative_error(forward(bf16, clips), expected) <= 5e-2


def test_videomae_ignores_the_5th_frame(videomae_features, clips):
  changed = clips.copy()
  changed[:, 4] += 1.0
  np.testing.assert_array_equal(forward(videomae_features, clips),
                                forward(videomae_features, changed))


def test_wrong_clip_shape_is_a_clear_error(videomae_features, clips):
  with pytest.raises(JaxlensError, match=r'built for clips \(5, 32, 32, 3\)'):
    videomae_features(jnp.asarray(clips[:, :4]))


@pytest.mark.parametrize('name, top_index, half_index', [
    ('mvit_b_16x4', 326, 192),
    ('videomae_b', 152, 92),
])
def test_trainable_counts_match_reference_freeze_index(name, top_index, half_index):
  """topT / halfT train what the reference's 'first N tensors frozen' left trainable."""
  params = list(torch_reference.build(name, 5, 224).named_parameters())
  spec = registry.get(name)
  abstract = nnx.eval_shape(lambda: spec.build(output='head', rngs=nnx.Rngs(0)))
  sizes = {path: int(np.prod(p.get_value().shape))
           for path, p in nnx.to_flat_state(nnx.state(abstract, nnx.Param))}
  assert sum(sizes.values()) == sum(p.numel() for _, p in params)
  for policy, index in (('topT', top_index), ('halfT', half_index)):
    trainable = freezing.trainable_predicate(spec, policy)
    ours = sum(size for path, size in sizes.items() if trainable(path))
    assert ours == sum(p.numel() for _, p in params[index:]), policy
