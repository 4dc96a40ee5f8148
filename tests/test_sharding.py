"""One train step gives the same loss, gradients and parameters on 1 device and on (8,) and
(4, 2) meshes, for the sequential towers with every loss, the CF towers and the VIDRec models.

The in-batch losses run on both meshes (their negatives are gathered across however many shards
split the batch); full softmax, BCE and the towers on (4, 2) alone, which splits the batch over
'data' and the tables over 'model': the (8,) mesh only leaves 'model' unsplit.

Adam's first step moves each parameter by about lr * sign(gradient), so a gradient within float
noise of zero may move differently on another mesh; parameters are compared where the gradient
is clearly non-zero, and every gradient through Adam's first moment (0.1 * gradient), to float
noise of the step's largest gradient (a score's bias has none under a softmax: all noise)."""

import jax
import numpy as np
import pytest

from jaxlens import sharding
from jaxlens.data import synthetic
from jaxlens.models import item_towers
from jaxlens.train import configuration, loop
from tests import helpers

pytestmark = pytest.mark.slow  # trains on every mesh


def _one_step(config, data, devices, data_axis, model_axis):
  config.mesh.data, config.mesh.model = data_axis, model_axis
  mesh = sharding.make_mesh(config.mesh, devices)
  trainer = loop.build_trainer(config, data, mesh)
  loss = helpers.train_one_step(trainer, helpers.first_batch(trainer, data, config), mesh,
                                config.mesh.rules)
  feature_tables = [array for path, array in
                    jax.tree_util.tree_flatten_with_path(trainer.state.data)[0]
                    if 'item_tower' in jax.tree_util.keystr(path)]
  assert len(feature_tables) == item_towers.REGISTRY.get(config.model.item_tower).reads_features
  for table in feature_tables:  # split over items
    assert table.sharding.spec == jax.P('model', None)
  flat = lambda tree: {jax.tree_util.keystr(path): np.asarray(value)
                       for path, value in jax.tree_util.tree_flatten_with_path(tree)[0]}
  moments = {path: value for path, value in flat(trainer.state.opt_state).items()
             if '.mu' in path}
  return loss, flat(trainer.state.params), moments


BOTH_MESHES = ((8, 1), (4, 2))  # (data, model)
TOWER_MESHES = ((4, 2),)


def _assert_meshes_agree(config, meshes):
  assert jax.device_count() == 8, 'conftest sets 8 simulated devices'
  data = synthetic.sequential_interactions()
  reference_loss, reference, reference_moments = _one_step(config, data, jax.devices()[:1], 1, 1)
  unpad = lambda name, value, want: value[:want.shape[0]] if 'embedding' in name else value
  for data_axis, model_axis in meshes:
    loss_value, params, moments = _one_step(config, data, jax.devices(), data_axis, model_axis)
    np.testing.assert_allclose(loss_value, reference_loss, atol=1e-5, rtol=0)
    assert params.keys() == reference.keys() and moments.keys() == reference_moments.keys()
    largest = max(np.abs(want).max() for want in reference_moments.values())
    for name, want in reference_moments.items():  # float noise is relative to the whole step's
      np.testing.assert_allclose(unpad(name, moments[name], want), want, rtol=1e-4,
                                 atol=1e-5 * max(np.abs(want).max(), largest), err_msg=name)
    assert len(reference) == len(reference_moments)  # one first moment per parameter, in order
    for (name, want), moment in zip(reference.items(), reference_moments.values()):
      assert moment.shape == want.shape, name
      clear = np.abs(moment) > 1e-7  # |gradient| > 1e-6
      np.testing.assert_allclose(unpad(name, params[name], want)[clear], want[clear], atol=1e-5,
                                 rtol=0, err_msg=name)


@pytest.mark.parametrize('loss, negatives', [('in_batch', 'global'), ('in_batch', '4'),
                                             ('full_softmax', 'global'), ('bce', 'global')])
def test_meshes_agree(loss, negatives):
  config = helpers.tiny_config(loss)
  config.loss.in_batch.negatives = negatives
  _assert_meshes_agree(config, BOTH_MESHES if loss == 'in_batch' else TOWER_MESHES)


@pytest.mark.parametrize('user_tower', ['dssm', 'lightgcn', 'nfm', 'deepfm'])
def test_cf_towers_agree_across_meshes(user_tower):
  """User tables split over 'model', a graph's edges over every device, BatchNorm over the
  global batch's pairs."""
  _assert_meshes_agree(helpers.tiny_config(user_tower=user_tower), TOWER_MESHES)


def test_vidrec_models_agree_across_meshes(tmp_path):
  """YouTube_ID+V; the feature table is split over items on (4, 2). The id+features tower holds
  the ID tower's table too, so this covers YouTube_ID; SASRec_ID+V is SASRec (every loss above)
  reading this same item tower."""
  config = helpers.tiny_features_config(tmp_path, 'id+features', 'youtube')
  _assert_meshes_agree(configuration.resolve(config), TOWER_MESHES)
