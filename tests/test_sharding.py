"""One train step gives the same loss and parameters on 1 device and on (8,) and (4, 2) meshes."""

import jax
import numpy as np
import pytest

from jaxlens.data import synthetic
from jaxlens.data import pipeline
from jaxlens.train import loop
from jaxlens.train import mesh as mesh_lib
from tests import helpers


def _one_step(config, data, devices, data_axis, model_axis):
  config.mesh.data, config.mesh.model = data_axis, model_axis
  mesh = mesh_lib.make_mesh(config.mesh, devices)
  trainer = loop.build_trainer(config, data, mesh)
  batch = next(iter(pipeline.train_dataset(data, config.train.batch_size, 1, seed=0)))
  num_positions = int(batch.pop('num_positions'))
  metrics = trainer.run_train_step(
      mesh_lib.global_batch(batch, mesh_lib.batch_sharding(mesh, config.mesh.rules)),
      num_positions)
  params = {'/'.join(map(str, path)): np.asarray(value)
            for path, value in jax.tree_util.tree_flatten_with_path(trainer.state.params)[0]}
  return float(metrics['loss']), params


@pytest.mark.parametrize('loss', ['in_batch', 'full_softmax'])
def test_meshes_agree(loss):
  assert jax.device_count() == 8, 'conftest sets 8 simulated devices'
  config = helpers.tiny_config(loss)
  data = synthetic.sequential_interactions()
  reference_loss, reference = _one_step(config, data, jax.devices()[:1], 1, 1)
  for data_axis, model_axis in [(8, 1), (4, 2)]:
    loss_value, params = _one_step(config, data, jax.devices(), data_axis, model_axis)
    np.testing.assert_allclose(loss_value, reference_loss, atol=1e-5, rtol=0)
    assert params.keys() == reference.keys()
    for name, value in params.items():
      want = reference[name]
      value = value[:want.shape[0]] if 'embedding' in name else value  # vocabulary padding
      np.testing.assert_allclose(value, want, atol=1e-5, rtol=0, err_msg=name)
