"""LightGCN as the reference's IDRec baseline (`Code/IDRec/LightGCN`): user and item vectors
propagated over the normalised user-item graph of the training interactions.

`model.lightgcn.layers` propagation steps (the reference's `lightgcn.yaml`: 1) over the user
table and the item tower's table; the final vectors are the mean of every step's, user and item
alike. Training recomputes the propagation every step (the whole graph, whatever the batch);
evaluation does it once. The edges live in the model as `DataArray`s, sharded over the mesh and
left out of checkpoints (`jaxlens.models.graph`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.data.protocol import Interactions
from jaxlens.models import graph, tables
from jaxlens import config_values
from jaxlens.models.user_towers.base import REGISTRY, GraphUserTower, Tables, UserTowerSpec
from jaxlens.sharding import Layout


class LightGCN(GraphUserTower):

  def __init__(self, data: Interactions, hidden: int, *, layers: int, layout: Layout,
               rngs: nnx.Rngs, dtype=jnp.float32):
    self.user_table = tables.sharded_table(data.num_users, hidden, 'users',
                                           multiple=layout.row_multiple('users'), rngs=rngs,
                                           dtype=dtype)
    self.graph = graph.training_graph(data, layout)
    self.layers = layers

  def propagate(self, items: jax.Array) -> Tables:
    users = self.user_table.embedding[...].astype(items.dtype)
    user_sum, item_sum = users, items
    for _ in range(self.layers):
      users, items = self.graph(users, items)
      user_sum, item_sum = user_sum + users, item_sum + items
    return Tables(items=item_sum / (self.layers + 1), users=user_sum / (self.layers + 1))


def _build(config, data: Interactions, *, layout: Layout, rngs: nnx.Rngs, dtype) -> LightGCN:
  return LightGCN(data, config.model.hidden, layers=config.model.lightgcn.layers, layout=layout,
                  rngs=rngs, dtype=dtype)


REGISTRY.register(UserTowerSpec(
    'lightgcn', build=_build, task='pair', paper_batch_size=128, paper_name='LightGCN',
    family='cf', needs_item_table=True,
    description='propagation over the user-item graph (He et al.)',
    config={'layers': 1},  # propagation steps
    check=lambda c: config_values.integer(c, 'model.lightgcn.layers', 0),
    renamed={'model.graph_layers': 'layers'}))
