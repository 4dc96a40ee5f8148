"""End-to-end VideoRec training pieces: distinct-item encoding, BatchNorm over distinct clips
only, sharding, freezing, sampled negatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlens import sharding
from jaxlens.data import clips as clips_lib
from jaxlens.data import synthetic
from jaxlens.eval.evaluation import eval_view
from jaxlens.train import loop
from tests import helpers

pytestmark = pytest.mark.slow  # trains video steps on several meshes


def _store(data, config):
  frames = synthetic.RandomFrames(config.data.num_frames, config.data.frame_size)
  return clips_lib.ClipStore(frames, data.original_item_ids, in_memory=True)


def _trainer(config, data, devices=None):
  mesh = sharding.make_mesh(config.mesh, devices or jax.devices()[:1])
  return loop.build_trainer(config, data, mesh), mesh


def test_distinct_items_cover_every_id_of_every_field():
  fields = {'item_ids': np.array([[0, 0, 5, 3], [3, 9, 5, 7]]), 'negative_ids': np.array([[2, 5]])}
  items, index, mask = clips_lib.distinct_items(fields, multiple=4)
  assert len(items) == 8 and set(items) == {2, 3, 5, 7, 9}  # padded with real items
  np.testing.assert_array_equal(mask, [1, 1, 1, 1, 1, 0, 0, 0])
  assert len(set(items[mask == 1])) == 5
  for name, ids in fields.items():
    np.testing.assert_array_equal(np.where(ids != 0, items[index[name]], 0), ids)


def test_distinct_encoding_equals_encoding_every_slot():
  config = helpers.tiny_video_config()
  data = synthetic.sequential_interactions()
  store = _store(data, config)
  trainer, _ = _trainer(config, data)
  batch = helpers.first_batch(trainer, data, config, store)
  tower = eval_view(trainer.model(trainer.state)).item_tower
  distinct = tower.embed({k: jnp.asarray(v) for k, v in batch.items()}, ('item_ids',))
  ids = batch['item_ids']
  every_slot = tower.encode(jnp.asarray(store[ids.reshape(-1)])).reshape(ids.shape + (-1,))
  every_slot = every_slot * (ids != 0)[..., None]
  np.testing.assert_allclose(distinct['item_ids'], every_slot, atol=1e-5)


def test_filler_clips_stay_out_of_batch_statistics():
  """Training-mode BatchNorm over distinct clips padded with repeats equals the distinct clips
  alone: the same outputs for them and the same running statistics."""
  config = helpers.tiny_video_config()
  data = synthetic.sequential_interactions()
  store = _store(data, config)
  trainer, _ = _trainer(config, data)
  clips = jnp.asarray(store[np.arange(1, 6)])
  padded = jnp.concatenate([clips, clips[:3]])
  mask = jnp.asarray([1.0] * 5 + [0.0] * 3)
  outputs, stats = {}, {}
  for name, (inputs, sample_mask) in {'alone': (clips, None), 'padded': (padded, mask)}.items():
    content = trainer.model(trainer.state).item_tower.content
    outputs[name] = np.asarray(content(inputs, sample_mask))[:5]
    stats[name] = jax.tree.leaves(nnx.state(content, nnx.BatchStat))
  np.testing.assert_allclose(outputs['padded'], outputs['alone'], atol=1e-5)
  for got, want in zip(stats['padded'], stats['alone']):
    np.testing.assert_allclose(got, want, atol=1e-6)
  unmasked = trainer.model(trainer.state).item_tower.content
  assert not np.allclose(np.asarray(unmasked(padded))[:5], outputs['alone'], atol=1e-5)


def _flat(tree):
  """Numeric leaves by path (RNG keys left out)."""
  return {jax.tree_util.keystr(path): np.asarray(value)
          for path, value in jax.tree_util.tree_flatten_with_path(tree)[0]
          if not jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key)}


def _one_step(config, data, store, devices):
  trainer, mesh = _trainer(config, data, devices)
  batch = helpers.first_batch(trainer, data, config, store, clip_multiple=8)
  before = jax.tree.map(np.asarray, trainer.state.frozen)
  loss = helpers.train_one_step(trainer, batch, mesh, config.mesh.rules)
  return trainer, loss, before


@pytest.mark.parametrize('loss, meshes', [
    ('in_batch', [(4, 2, False), (8, 1, True)]),
    ('bce', [(4, 2, False)]),
])
def test_video_step_same_on_meshes(loss, meshes):
  """A step on (data, model[, encoder FSDP]) meshes equals the one-device step. Each loss runs on
  both axes at once (its batch over `data`, item and user rows over `model`); the encoder's
  kernels split over `data` (FSDP) do not depend on the loss, so that mesh runs once."""
  config = helpers.tiny_video_config()
  config.loss.name = loss
  data = synthetic.sequential_interactions()
  store = _store(data, config)
  config.mesh.data, config.mesh.model = 1, 1
  reference, reference_loss, _ = _one_step(config, data, store, jax.devices()[:1])
  assert np.isfinite(reference_loss)
  for data_axis, model_axis, fsdp in meshes:
    config.mesh.data, config.mesh.model = data_axis, model_axis
    if fsdp:
      config.mesh.rules = tuple(r for r in config.mesh.rules if r[0] != 'encoder_out') + (
          ('encoder_out', 'data'),)
    trainer, loss_value, _ = _one_step(config, data, store, jax.devices())
    if fsdp:  # the encoder's kernels really are split over the batch axis, by annotation
      encoder = trainer.state.params['item_tower']['content']['encoder']
      kernel = encoder['layers'][1]['conv']['kernel'][...]
      assert kernel.sharding.spec == jax.P(None, 'data')
      assert encoder['layers'][1]['norm']['scale'][...].sharding.spec == jax.P()
    np.testing.assert_allclose(loss_value, reference_loss, atol=1e-5, rtol=0)
    want, got = _flat(reference.state.params), _flat(trainer.state.params)
    assert want.keys() == got.keys()
    for name in want:
      np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=0, err_msg=name)
    want, got = _flat(reference.state.rest), _flat(trainer.state.rest)  # BatchNorm statistics
    for name in want:
      if want[name].dtype.kind == 'f':
        np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=0, err_msg=name)


def test_bce_negatives_join_the_distinct_clips():
  config = helpers.tiny_video_config()
  config.loss.name = 'bce'
  data = synthetic.sequential_interactions()
  trainer, _ = _trainer(config, data)
  batch = helpers.first_batch(trainer, data, config, _store(data, config))
  negatives = batch['negative_ids']
  clips = batch['clips'][batch['negative_ids/clip']]
  np.testing.assert_array_equal(clips[negatives != 0],
                                _store(data, config)[negatives[negatives != 0]])


def test_frozen_layers_do_not_move_and_have_no_optimizer_state():
  config = helpers.tiny_video_config(train_mode='topT')  # tiny_c3d topT trains layers.1 only
  data = synthetic.sequential_interactions()
  trainer, _, before = _one_step(config, data, _store(data, config), jax.devices()[:1])
  frozen = _flat(trainer.state.frozen)
  assert frozen and all('layers' in k and "'1'" not in k and '[1]' not in k for k in frozen)
  for name, value in _flat(before).items():
    np.testing.assert_array_equal(frozen[name], value, err_msg=name)
  trained = _flat(trainer.state.params)
  assert any('layers' in k for k in trained)
  opt_leaves = {v.shape for v in jax.tree.leaves(trainer.state.opt_state) if hasattr(v, 'shape')}
  frozen_only = {v.shape for v in frozen.values()} - {v.shape for v in trained.values()}
  assert frozen_only and not frozen_only & opt_leaves


def test_frozen_batch_norm_statistics_follow_the_config():
  """'batch' updates the frozen stage's running statistics (the reference); 'running' keeps them."""
  data = synthetic.sequential_interactions()
  moved = {}
  for mode in ('batch', 'running'):
    config = helpers.tiny_video_config(train_mode='topT')
    config.model.encoder.frozen_batch_norm = mode
    trainer, mesh = _trainer(config, data)
    before = _flat(trainer.state.rest)
    helpers.train_one_step(trainer, helpers.first_batch(trainer, data, config,
                                                        _store(data, config)),
                           mesh, config.mesh.rules)
    after = _flat(trainer.state.rest)
    moved[mode] = {name for name in before if "'mean'" in name or "'var'" in name
                   if not np.array_equal(before[name], after[name])}
  frozen_stats = {name for name in moved['batch'] if "['layers'][0]" in name}
  assert frozen_stats, moved['batch']  # the frozen first layer's statistics move in 'batch' mode
  assert not frozen_stats & moved['running']
  assert moved['running']  # the trained layer still uses batch statistics


@pytest.mark.parametrize('layers, width', [(0, 0), (1, 0), (3, 0), (2, 24)])
def test_dnn_layers_over_the_encoder(layers, width):
  """`mlp_layers` ReLU layers between encoder (tiny_c3d: 64 features) and projection (D=16)."""
  config = helpers.tiny_video_config(train_mode='frozen')
  config.model.encoder.update(mlp_layers=layers, mlp_width=width)
  trainer, _ = _trainer(config, synthetic.sequential_interactions())
  content = trainer.state.params['item_tower']['content']
  count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(content))
  widths = [64] + [width or 64] * layers
  want = sum(a * b + b for a, b in zip(widths[:-1], widths[1:])) + widths[-1] * 16 + 16
  assert count == want  # frozen encoder: only the layers and the projection train
  assert len(content['mlp'] if 'mlp' in content else []) == layers
