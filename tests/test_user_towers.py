"""Sequence user towers: causality, padding invariance, and the GRU against `torch.nn.GRU`."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from jaxlens.models import user_towers
from jaxlens.models.user_towers.gru4rec import GRU4Rec
from tests import helpers

HIDDEN, LENGTH = 16, 6
SEQUENCE_TOWERS = [name for name in user_towers.REGISTRY.names()
                   if user_towers.REGISTRY.get(name).task == 'sequence']


def _encoder(name):
  config = helpers.tiny_config(user_tower=name)
  config.data.max_seq_len = LENGTH
  depth = next(key for key in ('blocks', 'layers') if key in config.model[name])
  config.model[name][depth] = 2  # two blocks or layers, whatever the tower calls them
  model = user_towers.REGISTRY.get(name).build(config, None, layout=None, rngs=nnx.Rngs(0),
                                               dtype=jnp.float32)
  return nnx.view(model, deterministic=True, raise_if_not_found=False)


def test_the_paper_sequence_towers_are_registered():
  assert {'sasrec', 'gru4rec', 'nextitnet'} <= set(SEQUENCE_TOWERS)


@pytest.mark.parametrize('name', SEQUENCE_TOWERS)
def test_changing_a_later_item_leaves_earlier_outputs(name):
  model = _encoder(name)
  rng = np.random.default_rng(0)
  embs = rng.normal(size=(2, LENGTH, HIDDEN)).astype(np.float32)
  mask = np.ones((2, LENGTH), bool)
  changed = embs.copy()
  changed[:, 4] = rng.normal(size=(2, HIDDEN))
  before = model(jnp.asarray(embs), jnp.asarray(mask))
  after = model(jnp.asarray(changed), jnp.asarray(mask))
  np.testing.assert_allclose(after[:, :4], before[:, :4], atol=1e-6)
  assert not np.allclose(after[:, 4], before[:, 4], atol=1e-3)


@pytest.mark.parametrize('name', ['gru4rec', 'nextitnet'])
def test_left_padding_is_invisible(name):
  """Zero, masked padding: a padded sequence ends in the same state as the unpadded one."""
  model = _encoder(name)
  rng = np.random.default_rng(1)
  real = rng.normal(size=(1, 3, HIDDEN)).astype(np.float32)
  padded = np.concatenate([np.zeros((1, 3, HIDDEN), np.float32), real], axis=1)
  mask = np.array([[False] * 3 + [True] * 3])
  short = model(jnp.asarray(real), jnp.ones((1, 3), bool))
  long = model(jnp.asarray(padded), jnp.asarray(mask))
  np.testing.assert_allclose(long[:, -1], short[:, -1], atol=1e-5)


def test_sasrec_padding_keys_are_masked():
  model = _encoder('sasrec')
  rng = np.random.default_rng(2)
  embs = rng.normal(size=(1, LENGTH, HIDDEN)).astype(np.float32)
  mask = np.array([[False, False] + [True] * 4])
  noisy = embs.copy()
  noisy[:, :2] = rng.normal(size=(1, 2, HIDDEN))  # whatever sits in padding slots
  a = model(jnp.asarray(embs), jnp.asarray(mask))
  b = model(jnp.asarray(noisy), jnp.asarray(mask))
  np.testing.assert_allclose(a[:, 2:], b[:, 2:], atol=1e-5)


def test_gru_padding_state_stays_exactly_zero():
  """The module docstring's claim, in training mode (dropout on) and bit for bit."""
  model = GRU4Rec(HIDDEN, num_blocks=2, dropout=0.5, rngs=nnx.Rngs(0))
  real = np.random.default_rng(4).normal(size=(2, 3, HIDDEN)).astype(np.float32)
  padded = np.concatenate([np.zeros((2, 4, HIDDEN), np.float32), real], axis=1)
  out = np.asarray(model(jnp.asarray(padded), None))
  assert not out[:, :4].any() and out[:, 4:].any()


@pytest.mark.parametrize('dense', [False, True])
def test_gru_matches_torch(dense):
  """`torch.nn.GRU(bias=False)`, then RecBole's `nn.Linear` when `dense`."""
  model = nnx.view(GRU4Rec(HIDDEN, num_blocks=2, dropout=0.0, dense=dense, rngs=nnx.Rngs(0)),
                   deterministic=True)
  torch.manual_seed(0)
  reference = torch.nn.GRU(HIDDEN, HIDDEN, num_layers=2, bias=False, batch_first=True)
  linear = torch.nn.Linear(HIDDEN, HIDDEN)
  for i, layer in enumerate(model.layers):  # torch (3D, D) in gate order r, z, n; flax (D, 3D)
    layer.input_gates.kernel[...] = jnp.asarray(
        getattr(reference, f'weight_ih_l{i}').detach().numpy().T)
    layer.hidden_gates.kernel[...] = jnp.asarray(
        getattr(reference, f'weight_hh_l{i}').detach().numpy().T)
  if dense:
    model.dense.kernel[...] = jnp.asarray(linear.weight.detach().numpy().T)
    model.dense.bias[...] = jnp.asarray(linear.bias.detach().numpy())
  x = np.random.default_rng(3).normal(size=(3, LENGTH, HIDDEN)).astype(np.float32)
  want = reference(torch.from_numpy(x))[0]
  want = (linear(want) if dense else want).detach().numpy()
  got = np.asarray(model(jnp.asarray(x), jnp.ones((3, LENGTH), bool)))
  assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5


def test_gru_dense_starts_as_torch_linear():
  """PyTorch's default `nn.Linear` init, U(-1/sqrt(D), 1/sqrt(D)) for weight and bias."""
  dense = GRU4Rec(256, dense=True, rngs=nnx.Rngs(0)).dense
  for values in (np.asarray(dense.kernel[...]), np.asarray(dense.bias[...])):
    assert np.abs(values).max() <= 1 / 16 and np.abs(values).max() > 0.9 / 16
    assert abs(values.std() - 1 / 16 / np.sqrt(3)) < 0.004
