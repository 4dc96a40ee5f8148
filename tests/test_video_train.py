"""End-to-end VideoRec training pieces: unique-item encoding, sharding, freezing, resume."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlens.data import synthetic
from jaxlens.data import clips as clips_lib
from jaxlens.data import pipeline
from jaxlens.train import loop
from jaxlens.train import mesh as mesh_lib
from tests import helpers


def _store(data, config):
  frames = synthetic.RandomFrames(config.data.num_frames, config.data.frame_size)
  return clips_lib.ClipStore(frames, data.original_item_ids, in_memory=True)


def test_unique_items_cover_every_slot():
  rows = np.array([[0, 0, 5, 3], [3, 9, 5, 7]])
  items, index = clips_lib.unique_items(rows, multiple=4)
  assert len(items) == 4 and set(items) == {3, 5, 7, 9}
  np.testing.assert_array_equal(np.where(rows != 0, items[index], 0), rows)
  items, _ = clips_lib.unique_items(rows, multiple=8)
  assert len(items) == 8 and set(items) == {3, 5, 7, 9}  # padded with real items


def test_unique_encoding_equals_encoding_every_slot():
  config = helpers.tiny_video_config()
  data = synthetic.sequential_interactions()
  store = _store(data, config)
  mesh = mesh_lib.make_mesh(config.mesh, jax.devices()[:1])
  trainer = loop.build_trainer(config, data, mesh)
  batch = next(iter(pipeline.train_dataset(data, 16, 1, seed=0, clips=store)))
  tower = nnx.view(trainer.model(trainer.state), deterministic=True, use_running_average=True,
                   raise_if_not_found=False).item_tower
  unique = tower.slot_embeddings({k: jnp.asarray(v) for k, v in batch.items()})
  ids = batch['item_ids']
  every_slot = tower.embed_clips(jnp.asarray(store[ids.reshape(-1)])).reshape(ids.shape + (-1,))
  every_slot = every_slot * (ids != 0)[..., None]
  np.testing.assert_allclose(unique, every_slot, atol=1e-5)


def _one_step(config, data, store, devices, data_axis, model_axis, fsdp=False):
  config.mesh.data, config.mesh.model = data_axis, model_axis
  if fsdp:
    config.mesh.rules = tuple(r for r in config.mesh.rules if r[0] != 'encoder_params') + (
        ('encoder_params', 'data'),)
  mesh = mesh_lib.make_mesh(config.mesh, devices)
  trainer = loop.build_trainer(config, data, mesh)
  batch = next(iter(pipeline.train_dataset(data, config.train.batch_size, 1, seed=0, clips=store,
                                           unique_multiple=8)))
  num_positions = int(batch.pop('num_positions'))
  before = jax.tree.map(np.asarray, trainer.state.frozen)
  metrics = trainer.run_train_step(
      mesh_lib.global_batch(batch, mesh_lib.batch_sharding(mesh, config.mesh.rules)),
      num_positions)
  return trainer, float(metrics['loss']), before


def _flat(tree):
  """Numeric leaves by path (RNG keys left out)."""
  return {jax.tree_util.keystr(path): np.asarray(value)
          for path, value in jax.tree_util.tree_flatten_with_path(tree)[0]
          if not jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key)}


def test_video_step_same_on_meshes():
  config = helpers.tiny_video_config()
  data = synthetic.sequential_interactions()
  store = _store(data, config)
  reference, reference_loss, _ = _one_step(config, data, store, jax.devices()[:1], 1, 1)
  for data_axis, model_axis, fsdp in [(8, 1, False), (4, 2, False), (8, 1, True)]:
    trainer, loss, _ = _one_step(config, data, store, jax.devices(), data_axis, model_axis, fsdp)
    if fsdp:  # the encoder's weights really are split over the batch axis
      encoder = trainer.state.params['item_tower']['video']['encoder']
      kernel = encoder['layers'][1]['conv']['kernel'][...]
      assert kernel.sharding.spec == jax.P('data', None)
    np.testing.assert_allclose(loss, reference_loss, atol=1e-5, rtol=0)
    want, got = _flat(reference.state.params), _flat(trainer.state.params)
    assert want.keys() == got.keys()
    for name in want:
      np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=0, err_msg=name)
    want, got = _flat(reference.state.rest), _flat(trainer.state.rest)  # BatchNorm statistics
    for name in want:
      if want[name].dtype.kind == 'f':
        np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=0, err_msg=name)


def test_frozen_layers_do_not_move_and_have_no_optimizer_state():
  config = helpers.tiny_video_config(train_mode='topT')  # tiny_c3d topT trains layers.1 only
  data = synthetic.sequential_interactions()
  trainer, _, before = _one_step(config, data, _store(data, config), jax.devices()[:1], 1, 1)
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
    store = _store(data, config)
    trainer = loop.build_trainer(config, data, mesh_lib.make_mesh(config.mesh, jax.devices()[:1]))
    before = _flat(trainer.state.rest)
    batch = next(iter(pipeline.train_dataset(data, 16, 1, seed=0, clips=store)))
    trainer.run_train_step({k: jnp.asarray(v) for k, v in batch.items() if k != 'num_positions'},
                           int(batch['num_positions']))
    after = _flat(trainer.state.rest)
    moved[mode] = {name for name in before if "'mean'" in name or "'var'" in name
                   if not np.array_equal(before[name], after[name])}
  frozen_stats = {name for name in moved['batch'] if "['layers'][0]" in name}
  assert frozen_stats, moved['batch']  # the frozen first layer's statistics move in 'batch' mode
  assert not frozen_stats & moved['running']
  assert moved['running']  # the trained layer still uses batch statistics
