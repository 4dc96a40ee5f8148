"""YouTube-DNN candidate generation (Covington et al., RecSys 2016), on the item history alone.

The user vector is a ReLU MLP over the average of the watched items' embeddings; the paper's
other inputs (searches, demographics, example age) do not exist in MicroLens. The reference has
no code for its YouTube rows (its `Code/VIDRec` holds DSSM alone and links to MMRec for MMGCN
and GRCN), so the tower follows the paper: `model.youtube.layers` ReLU layers of width D, then a
linear layer to D (a ReLU output would confine the user vector to the positive orthant of the
items' space). Causal: the query at step t averages the items up to t,
so it trains on the sequence layout as SASRec, every position predicting the next item, and
scores with the same softmax (in-batch with logQ, the paper's sampled softmax with its
correction).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens import config_values
from jaxlens.models.user_towers.base import REGISTRY, UserTower, UserTowerSpec

_XAVIER = nnx.initializers.xavier_normal()


def running_mean(item_embs: jax.Array, mask: jax.Array) -> jax.Array:
  """`(B, L, D)`: at step t the mean of the real items up to t (zero before the first)."""
  keep = mask[..., None].astype(item_embs.dtype)
  totals = jnp.cumsum(item_embs * keep, axis=1)
  counts = jnp.cumsum(keep, axis=1)
  return totals / jnp.maximum(counts, 1)


class YouTubeDNN(UserTower):

  def __init__(self, hidden: int, *, num_layers: int = 2, dropout: float = 0.1,
               rngs: nnx.Rngs, dtype=jnp.float32):
    dense = lambda: nnx.Linear(hidden, hidden, kernel_init=_XAVIER, dtype=dtype, rngs=rngs)
    self.input_dropout = nnx.Dropout(dropout, rngs=rngs)
    self.layers = nnx.List([dense() for _ in range(num_layers)])
    self.output = dense()

  def __call__(self, item_embs: jax.Array, mask: jax.Array, user_ids=None,
               users=None) -> jax.Array:
    del user_ids, users  # a user is their history
    x = self.input_dropout(running_mean(item_embs, mask))
    for layer in self.layers:
      x = jax.nn.relu(layer(x))
    return self.output(x)


def _build(config, data, *, layout, rngs: nnx.Rngs, dtype) -> YouTubeDNN:
  del data, layout  # a user is their history
  model = config.model
  return YouTubeDNN(model.hidden, num_layers=model.youtube.layers, dropout=model.dropout,
                    rngs=rngs, dtype=dtype)


# The reference has no YouTube code or batch; 512 is its sequential models' (run_id.py).
REGISTRY.register(UserTowerSpec(
    'youtube', build=_build, task='sequence', paper_batch_size=512, paper_name='YouTube',
    family='vidrec', description='an MLP over the mean of the history (Covington et al.)',
    config={'layers': 2},  # ReLU layers of width D before the output layer
    check=lambda c: config_values.integer(c, 'model.youtube.layers', 0),
    renamed={'model.num_blocks': 'layers'}))
