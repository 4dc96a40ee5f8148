"""The frozen-feature item towers and YouTube-DNN: rows follow the protocol's ids; the table is
a constant outside gradients, optimizer state and checkpoints, so a resumed run refuses a table
that changed; YouTube's query at step t averages the items up to t."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from jaxlens import sharding
from jaxlens.data import item_features, synthetic
from jaxlens.errors import JaxlensError
from jaxlens.models.item_towers.features import standardised
from jaxlens.models.user_towers.youtube import YouTubeDNN
from jaxlens.train import configuration, loop
from jaxlens.train.checkpoint import Checkpoints, RunState
from tests import helpers


def test_rows_follow_the_protocol_ids_whatever_the_table_order(tmp_path):
  data = synthetic.sequential_interactions()
  originals = data.original_item_ids[1:]
  extra = np.array([999, 1000])  # items the dataset does not use
  table_ids = np.random.default_rng(0).permutation(np.concatenate([originals, extra]))
  rng = np.random.default_rng(1)
  vectors = {int(i): rng.normal(size=3) * [1, 10, 100] for i in table_ids}
  item_features.write(str(tmp_path / 'shuffled'), np.stack([vectors[int(i)] for i in table_ids]),
                      table_ids, {'modality': 'title'})
  config = helpers.tiny_features_config(tmp_path / 'random', item_tower='features')
  config.model.features.update(path=str(tmp_path / 'shuffled'), modality='title')
  config.mesh.data = 1
  trainer = loop.build_trainer(configuration.resolve(config), data,
                               sharding.make_mesh(config.mesh, jax.devices()[:1]))
  tower = trainer.model(trainer.state).item_tower
  want = standardised(np.stack([vectors[int(i)] for i in originals]))
  np.testing.assert_allclose(tower.features[...][1:data.num_items + 1], want, atol=1e-6)
  assert not np.asarray(tower.features[...][0]).any()  # padding
  np.testing.assert_allclose(tower.table()[1:data.num_items + 1],
                             want @ np.asarray(tower.content.kernel[...]), atol=1e-5)


def test_the_table_is_a_constant_outside_gradients_state_and_checkpoints(tmp_path):
  data = synthetic.sequential_interactions()
  config = configuration.resolve(helpers.tiny_features_config(tmp_path / 'table'))
  config.mesh.data = 1
  trainer = loop.build_trainer(config, data, sharding.make_mesh(config.mesh, jax.devices()[:1]))
  (table,) = jax.tree.leaves(trainer.state.data)
  assert table.shape == (sharding.TABLE_ROW_MULTIPLE, 12)  # 30 items and padding, 12 features
  for tree in (trainer.state.params, trainer.state.opt_state, trainer.state.rest):
    assert table.shape not in {leaf.shape for leaf in jax.tree.leaves(tree)}
  checkpoints = Checkpoints(str(tmp_path / 'run'))
  checkpoints.save(1, trainer.state, RunState())
  checkpoints.wait()
  saved = ocp.StandardCheckpointer().metadata(
      os.path.join(checkpoints.directory, '1', 'state')).item_metadata
  assert table.shape not in {tuple(leaf.shape) for leaf in jax.tree.leaves(saved)}
  restored, _ = checkpoints.restore_latest(trainer.state)
  np.testing.assert_array_equal(jax.tree.leaves(restored.data)[0], table)


def test_a_resumed_run_refuses_a_changed_table(tmp_path):
  config = helpers.tiny_features_config(tmp_path / 'table')
  configuration.save(configuration.resolve(config), str(tmp_path))
  (tmp_path / 'checkpoints' / '3').mkdir(parents=True)  # a committed step: a run to resume
  configuration.check_resume(configuration.resolve(config), str(tmp_path))
  helpers.random_feature_table(tmp_path / 'table', np.arange(1, 31), dim=12, seed=1)
  with pytest.raises(JaxlensError, match=r'differs in model.features.fingerprint'):
    configuration.check_resume(configuration.resolve(config), str(tmp_path))


def test_youtube_query_at_each_step_is_its_prefix_alone():
  """Left padding and later items change nothing: step t sees the real items up to t."""
  tower = nnx.view(YouTubeDNN(8, rngs=nnx.Rngs(0)), deterministic=True)
  items = jax.random.normal(jax.random.key(1), (1, 6, 8))
  mask = jnp.array([[False, False, True, True, True, True]])
  queries = tower(items * mask[..., None], mask)
  alone = tower(items[:, 2:4], jnp.ones((1, 2), bool))  # the real items up to step 3
  np.testing.assert_allclose(queries[:, 2:4], alone, atol=1e-6)
  mean = items[:, 2:4].mean(axis=1, keepdims=True)
  np.testing.assert_allclose(queries[:, 3], tower(mean, jnp.ones((1, 1), bool))[:, 0], atol=1e-6)
