"""DSSM as the reference's IDRec baseline (`Code/IDRec/DSSM`): a user ID tower against the item
tower.

The query is the user's own learned vector (a table sharded over users like the item table); the
score is its dot product with the item's vector. The reference's tower MLPs are empty
(`mlp_hidden_size: []`), so it is matrix factorisation. `model.dssm.mlp` gives the user vector
and every item vector the reference's MLP layers (dropout, Linear, BatchNorm, tanh per width);
BatchNorm's batch statistics then cover every vector of a call, epoch-end padding rows included.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.data.protocol import Interactions
from jaxlens.models import tables
from jaxlens import config_values
from jaxlens.models.user_towers.base import REGISTRY, UserTower, UserTowerSpec
from jaxlens.models.video.layers import BatchNorm
from jaxlens.sharding import Layout


class TowerMLP(nnx.Module):
  """The reference's `MLPLayers(bn=True, activation='tanh')`: per width, dropout, Linear,
  BatchNorm, tanh (none: the identity)."""

  def __init__(self, hidden: int, widths, *, dropout: float, rngs: nnx.Rngs, dtype=jnp.float32):
    sizes = [hidden, *widths]
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.layers = nnx.List([nnx.Linear(a, b, kernel_init=nnx.initializers.xavier_normal(),
                                       dtype=dtype, rngs=rngs) for a, b in zip(sizes, sizes[1:])])
    self.norms = nnx.List([BatchNorm(b, dtype=dtype) for b in sizes[1:]])

  def __call__(self, x: jax.Array) -> jax.Array:
    for layer, norm in zip(self.layers, self.norms):
      x = jnp.tanh(norm(layer(self.dropout(x))))
    return x


class DSSM(UserTower):

  def __init__(self, num_users: int, hidden: int, *, mlp_widths=(), dropout: float = 0.0,
               user_multiple: int = 1, rngs: nnx.Rngs, dtype=jnp.float32):
    self.user_table = tables.sharded_table(num_users, hidden, 'users', multiple=user_multiple,
                                           rngs=rngs, dtype=dtype)
    self.user_mlp = TowerMLP(hidden, mlp_widths, dropout=dropout, rngs=rngs, dtype=dtype)
    self.item_mlp = TowerMLP(hidden, mlp_widths, dropout=dropout, rngs=rngs, dtype=dtype)

  def __call__(self, history, mask, user_ids, users=None):
    del history, mask, users  # a user is their id
    return self.user_mlp(self.user_table(user_ids))[:, None]

  def items(self, vectors, ids):
    if not self.item_mlp.layers:
      return vectors
    return self.item_mlp(vectors) * (ids != 0)[..., None].astype(vectors.dtype)


def _build(config, data: Interactions, *, layout: Layout, rngs: nnx.Rngs, dtype) -> DSSM:
  return DSSM(data.num_users, config.model.hidden, mlp_widths=tuple(config.model.dssm.mlp),
              dropout=config.model.dropout, user_multiple=layout.row_multiple('users'), rngs=rngs,
              dtype=dtype)


REGISTRY.register(UserTowerSpec(
    'dssm', build=_build, task='pair', paper_batch_size=1024, paper_name='DSSM', family='cf',
    description='a learned vector per user, two towers (Huang et al.)',
    # Widths of the user and item MLPs (dropout, Linear, BatchNorm, tanh each); () is the
    # reference's pure matrix factorisation.
    config={'mlp': ()},
    check=lambda c: config_values.integers(c, 'model.dssm.mlp', nonempty=False),
    renamed={'model.tower_mlp': 'mlp'}))
