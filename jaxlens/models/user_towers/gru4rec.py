"""GRU4Rec as the reference's `Code/VideoRec/GRU4Rec/model/user_encoders.py` builds it: input
dropout and a bias-free GRU.

With zero padding embeddings a bias-free GRU starting from h=0 stays at h=0 through the left
padding (every gate sees 0, so h' = (1 - z) * tanh(0) + z * 0 = 0 exactly), so padding needs no
explicit mask here: the recurrence starts at the first real item.

`dense=True` adds RecBole's `Linear(D, D)` with bias after the GRU (the reference has none): the
query is no longer confined to the GRU's (-1, 1) range, and its bias scores every item by a
learned vector, a popularity term, so a full softmax learns faster.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens import config_values
from jaxlens.models.user_towers.base import REGISTRY, UserTower, UserTowerSpec


class GRULayer(nnx.Module):
  """PyTorch's `nn.GRU(bias=False)` gate order (reset, update, new), scanned over time."""

  def __init__(self, hidden: int, *, kernel_init, rngs: nnx.Rngs, dtype=jnp.float32):
    dense = lambda: nnx.Linear(hidden, 3 * hidden, use_bias=False, kernel_init=kernel_init,
                               dtype=dtype, rngs=rngs)
    self.input_gates, self.hidden_gates = dense(), dense()

  def __call__(self, x: jax.Array) -> jax.Array:
    projected = self.input_gates(x)  # all time steps in one matmul, outside the scan

    def step(h, xi):
      ir, iz, inew = jnp.split(xi, 3, axis=-1)
      hr, hz, hnew = jnp.split(self.hidden_gates(h), 3, axis=-1)
      reset, update = jax.nn.sigmoid(ir + hr), jax.nn.sigmoid(iz + hz)
      h = (1 - update) * jnp.tanh(inew + reset * hnew) + update * h
      return h, h

    h0 = jnp.zeros(x.shape[:1] + x.shape[2:], x.dtype)
    _, outputs = jax.lax.scan(step, h0, jnp.swapaxes(projected, 0, 1))
    return jnp.swapaxes(outputs, 0, 1)


def _torch_default_uniform(fan_in: int):
  """PyTorch's default init U(-1/sqrt(fan_in), 1/sqrt(fan_in)): `nn.GRU`'s, kept by the
  reference beyond layer 0, and `nn.Linear`'s weight and bias."""
  bound = 1.0 / fan_in**0.5
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


class GRU4Rec(UserTower):

  def __init__(self, hidden: int, *, num_blocks: int = 1, dropout: float = 0.1,
               dense: bool = False, rngs: nnx.Rngs, dtype=jnp.float32):
    self.input_dropout = nnx.Dropout(dropout, rngs=rngs)
    self.layers = nnx.List([
        GRULayer(hidden, rngs=rngs, dtype=dtype,
                 kernel_init=(nnx.initializers.xavier_uniform() if i == 0
                              else _torch_default_uniform(hidden)))
        for i in range(num_blocks)])
    init = _torch_default_uniform(hidden)
    self.dense = (nnx.Linear(hidden, hidden, kernel_init=init, bias_init=init, rngs=rngs,
                             dtype=dtype) if dense else None)

  def __call__(self, item_embs: jax.Array, mask: jax.Array, user_ids=None,
               users=None) -> jax.Array:
    del mask, user_ids, users  # see the module docstring
    x = self.input_dropout(item_embs)
    for layer in self.layers:
      x = layer(x)
    return x if self.dense is None else self.dense(x)


def _build(config, data, *, layout, rngs: nnx.Rngs, dtype) -> GRU4Rec:
  del data, layout  # a user is their history
  model = config.model
  return GRU4Rec(model.hidden, num_blocks=model.gru4rec.layers, dropout=model.dropout,
                 dense=model.gru4rec.dense, rngs=rngs, dtype=dtype)


REGISTRY.register(UserTowerSpec(
    'gru4rec', build=_build, task='sequence', paper_batch_size=512, paper_name='GRU4Rec',
    family='sr', description='a bias-free GRU over the history (Hidasi et al.)',
    # dense: RecBole's Linear(D, D) with bias after the GRU (the reference has none)
    config={'layers': 1, 'dense': False},
    check=lambda c: config_values.integer(c, 'model.gru4rec.layers'),
    renamed={'model.num_blocks': 'layers'}))
