"""MMGCN (Wei et al. 2019), the paper's VIDRec graph row: a modality's graph with user preferences.

The item tower's vectors are the modality: `features` (the projected frozen feature, `_ID+V`) or
`id` (learned item vectors, `_ID`, the same graph without content). Users get a learned
preference vector in the modality's space. `model.mmgcn.layers` layers (the paper, MMRec: 3),
each, over x = the L2-normalised [preferences; item vectors] first:
  h = LeakyReLU(mean over the node's neighbours of x W)           aggregation (eq. 1)
  x_hat = LeakyReLU(x W' + b') + id_node                            the ID embedding (eq. 5)
  x = LeakyReLU([h | x_hat] W'' + b'')                               combination (concatenation)
`id_node` is a learned ID vector per user and item, which every layer adds; `_V`
(`model.mmgcn.item_ids=False`, MMRec's `has_id=False` on the item side) has none for items, so
an item, cold or not, is its content and its neighbours' messages. The final x of
users and items are scored by dot product. MMGCN averages several modalities' graphs; with one
modality there is nothing to average. Training propagates every step, evaluation once, as
LightGCN (`jaxlens.models.user_towers.lightgcn`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens import config_values
from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.models import graph, tables
from jaxlens.models.user_towers.base import REGISTRY, GraphUserTower, Tables, UserTowerSpec
from jaxlens.sharding import Layout


def l2_normalize(x: jax.Array) -> jax.Array:
  """Rows of unit norm, as torch's F.normalize; zero rows (padding) stay zero with a zero
  gradient, where the norm's would be NaN."""
  squares = jnp.sum(jnp.square(x), axis=-1, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(squares, 1e-24))


class MMGCNLayer(nnx.Module):

  def __init__(self, hidden: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
    xavier = nnx.initializers.xavier_normal()
    self.conv = nnx.Linear(hidden, hidden, use_bias=False, kernel_init=xavier, dtype=dtype,
                           rngs=rngs)
    self.linear = nnx.Linear(hidden, hidden, kernel_init=xavier, dtype=dtype, rngs=rngs)
    self.combine = nnx.Linear(2 * hidden, hidden, kernel_init=xavier, dtype=dtype, rngs=rngs)

  def __call__(self, graph_: graph.BipartiteGraph, weights: graph.Weights, users, items,
               user_ids, item_ids):
    """One layer over users and items at once; `*_ids` are their ID vectors."""
    h_users, h_items = graph_(self.conv(users), self.conv(items), weights)

    def update(x, h, ids):
      x_hat = jax.nn.leaky_relu(self.linear(x)) + ids
      return jax.nn.leaky_relu(self.combine(jnp.concatenate([jax.nn.leaky_relu(h), x_hat], -1)))

    return update(users, h_users, user_ids), update(items, h_items, item_ids)


class MMGCN(GraphUserTower):

  def __init__(self, data: Interactions, hidden: int, *, layers: int, layout: Layout,
               rngs: nnx.Rngs, dtype=jnp.float32, item_ids: bool = True,
               item_dropout: float = 0.0):
    users_multiple, items_multiple = layout.row_multiple('users'), layout.row_multiple('items')
    table = lambda rows, axis, multiple, **kw: tables.sharded_table(
        rows, hidden, axis, multiple=multiple, rngs=rngs, dtype=dtype, **kw)
    self.preference = table(data.num_users, 'users', users_multiple)
    self.user_ids = table(data.num_users, 'users', users_multiple)
    self.item_ids = (table(data.num_items + 1, 'items', items_multiple, zero_first=True)
                     if item_ids else None)
    self.graph = graph.training_graph(data, layout, mean=True)
    self.item_dropout = graph.ItemDropout(item_dropout, data, layout, rngs=rngs)
    self.layers = nnx.List([MMGCNLayer(hidden, rngs=rngs, dtype=dtype) for _ in range(layers)])

  def propagate(self, items: jax.Array) -> Tables:
    dtype = items.dtype
    users = l2_normalize(self.preference.embedding[...].astype(dtype))
    items = l2_normalize(items)
    user_ids = self.user_ids.embedding[...].astype(dtype)
    drop, hide = self.item_dropout(self.graph)
    item_ids = (hide(self.item_ids.embedding[...].astype(dtype)) if self.item_ids is not None
                else jnp.zeros((), dtype))  # `_V`: x_hat is the content's term alone
    weights = drop(self.graph.mean_weights())
    for layer in self.layers:
      users, items = layer(self.graph, weights, users, items, user_ids, item_ids)
    return Tables(items=items, users=users)


def _build(config, data: Interactions, *, layout: Layout, rngs: nnx.Rngs, dtype) -> MMGCN:
  options = config.model.mmgcn
  return MMGCN(data, config.model.hidden, layers=options.layers, layout=layout, rngs=rngs,
               dtype=dtype, item_ids=options.item_ids, item_dropout=options.item_dropout)


# The content graph towers' item keys (MMGCN, GRCN).
GRAPH_ITEM_CONFIG = {
    # Learned item ID vectors; False is the `_V` model (an item is its content alone).
    'item_ids': True,
    # The share of items left out of the graph in each training step, so that items without
    # edges (cold at evaluation) are ranked by their content (`graph.ItemDropout`).
    'item_dropout': 0.0,
}
GRAPH_ITEM_RENAMED = {'model.graph_layers': 'layers', 'model.graph_item_ids': 'item_ids',
                      'model.graph_item_dropout': 'item_dropout'}


def check_graph_items(config, tower: str) -> None:
  config_values.integer(config, f'model.{tower}.layers', 0)
  config_values.fraction(config, f'model.{tower}.item_dropout')
  if not config.model[tower].item_ids and config.model.item_tower == 'id':
    raise JaxlensError(f'config.model.{tower}.item_ids=False (the _V model) needs an item '
                       "tower with content, not 'id'")


REGISTRY.register(UserTowerSpec(
    'mmgcn', build=_build, task='pair', paper_batch_size=1024, paper_name='MMGCN',
    family='vidrec', needs_item_table=True,
    description='a modality graph with user preferences and ID vectors in every layer (Wei et '
    'al. 2019)',
    config={'layers': 3, **GRAPH_ITEM_CONFIG}, check=lambda c: check_graph_items(c, 'mmgcn'),
    renamed=GRAPH_ITEM_RENAMED))
