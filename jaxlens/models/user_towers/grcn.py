"""GRCN (Wei et al. 2020), the paper's VIDRec graph row: content attention refines the ID graph.

The item tower's vectors are the content: `features` (the projected frozen feature, `_ID+V`) or
`id` (learned item vectors, `_ID`). Per step:
1. Content: c_i = normalise(LeakyReLU(item vector + b)), user preferences p_u = normalise(P_u).
   `model.grcn.routing_iterations` routing steps move each preference towards its items:
   p_u <- normalise(p_u + sum_i a_ui c_i), a_ui the softmax over u's items of <p_u, c_i>.
2. The content graph: every edge's attention <p_u, c_i>, a softmax over the user's edges for the
   message to the user and over the item's edges for the message to the item; the content
   vectors are p_u + sum_i a_ui c_i and c_i + sum_u a_iu p_u.
3. The refined graph: a message's weight is ReLU(attention x its sender's learned confidence),
   pruning edges with a negative one. `model.grcn.layers` (the paper, MMRec: 2) weighted-sum
   steps over normalised learned ID vectors x give x + x_1 + x_2 ...
A user or item is [ID vector | content vector], 2D wide, scored by dot product;
`model.grcn.unit_item_vectors` scales each item's to unit length (a jaxlens addition for cold
start: a seen item's messages no longer lengthen its vector; docs/fidelity.md). `_V`
(`model.grcn.item_ids=False`) has no learned item vectors (ID or confidence): as every `_V`
replaces an item's ID vector by its content, its normalised item-tower vector starts the ID
graph, and a message from an item weighs its attention alone (no pruning). Every step recomputes
it all over the whole graph, evaluation once (`jaxlens.models.user_towers.lightgcn`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens import config_values
from jaxlens.data.protocol import Interactions
from jaxlens.models import graph, tables
from jaxlens.models.user_towers.base import REGISTRY, GraphUserTower, Tables, UserTowerSpec
from jaxlens.models.user_towers.mmgcn import (GRAPH_ITEM_CONFIG, GRAPH_ITEM_RENAMED,
                                              check_graph_items, l2_normalize)
from jaxlens.sharding import Layout


class GRCN(GraphUserTower):

  def __init__(self, data: Interactions, hidden: int, *, layers: int, routing: int,
               layout: Layout, rngs: nnx.Rngs, dtype=jnp.float32, item_ids: bool = True,
               item_dropout: float = 0.0, unit_items: bool = False):
    users_multiple, items_multiple = layout.row_multiple('users'), layout.row_multiple('items')
    users_table = lambda width: tables.sharded_table(
        data.num_users, width, 'users', multiple=users_multiple, rngs=rngs, dtype=dtype)
    items_table = lambda width: tables.sharded_table(
        data.num_items + 1, width, 'items', multiple=items_multiple, rngs=rngs, dtype=dtype,
        zero_first=True)
    self.preference = users_table(hidden)
    # In this order, so that `_ID` and `_ID+V` draw the same initial values as before `_V`.
    self.user_ids = users_table(hidden)
    self.item_ids = items_table(hidden) if item_ids else None
    self.user_confidence = users_table(1)
    self.item_confidence = items_table(1) if item_ids else None
    self.content_bias = nnx.Param(jnp.zeros((hidden,), jnp.float32))
    self.graph = graph.training_graph(data, layout)
    self.item_dropout = graph.ItemDropout(item_dropout, data, layout, rngs=rngs)
    self.layers, self.routing, self.unit_items = layers, routing, unit_items

  def _content(self, items: jax.Array, drop):
    """Step 1 and 2: content vectors of users and items and the attention of every edge."""
    num_items = items.shape[0]
    items = l2_normalize(jax.nn.leaky_relu(items + self.content_bias[...].astype(items.dtype)))
    users = l2_normalize(self.preference.embedding[...].astype(items.dtype))
    for _ in range(self.routing):
      to_users, _ = self.graph.softmax(self.graph.dots(users, items), num_items)
      routed, _ = self.graph(users, items, drop((to_users, jnp.zeros_like(to_users))))
      users = l2_normalize(users + routed)
    attention = drop(self.graph.softmax(self.graph.dots(users, items), num_items))
    to_users, to_items = self.graph(users, items, attention)
    return users + to_users, items + to_items, attention

  def propagate(self, items: jax.Array) -> Tables:
    dtype = items.dtype
    drop, hide = self.item_dropout(self.graph)
    content_users, content_items, (to_users, to_items) = self._content(items, drop)
    # A message's weight: attention x its sender's confidence; the sender of a message to a
    # user is the edge's item, to an item its user.
    user_confidence = self.user_confidence.embedding[...]
    item_confidence = (self.item_confidence.embedding[...] if self.item_confidence is not None
                       else jnp.ones((content_items.shape[0], 1), jnp.float32))
    user_confidence, item_confidence = (  # per edge
        self.graph.dots(user_confidence, jnp.ones_like(item_confidence)),
        self.graph.item_values(item_confidence))
    weights = (jax.nn.relu(to_users * item_confidence), jax.nn.relu(to_items * user_confidence))
    users = l2_normalize(self.user_ids.embedding[...].astype(dtype))
    # `_V`: the item's content in place of its ID vector.
    ids = (hide(l2_normalize(self.item_ids.embedding[...].astype(dtype)))
           if self.item_ids is not None else l2_normalize(items))
    user_sum, item_sum = users, ids
    for _ in range(self.layers):
      users, ids = self.graph(users, ids, weights)
      user_sum, item_sum = user_sum + users, item_sum + ids
    items = jnp.concatenate([item_sum, content_items.astype(dtype)], -1)
    return Tables(items=l2_normalize(items) if self.unit_items else items,
                  users=jnp.concatenate([user_sum, content_users.astype(dtype)], -1))


def _build(config, data: Interactions, *, layout: Layout, rngs: nnx.Rngs, dtype) -> GRCN:
  options = config.model.grcn
  return GRCN(data, config.model.hidden, layers=options.layers,
              routing=options.routing_iterations, layout=layout, rngs=rngs, dtype=dtype,
              item_ids=options.item_ids, item_dropout=options.item_dropout,
              unit_items=options.unit_item_vectors)


def _check(config) -> None:
  check_graph_items(config, 'grcn')
  config_values.integer(config, 'model.grcn.routing_iterations', 0)


REGISTRY.register(UserTowerSpec(
    'grcn', build=_build, task='pair', paper_batch_size=1024, paper_name='GRCN',
    family='vidrec', needs_item_table=True,
    description='an ID graph whose edges content attention weighs and prunes (Wei et al. 2020)',
    config={
        'layers': 2,  # weighted-sum layers over the ID graph
        'routing_iterations': 3,  # preference routing steps over the content graph
        **GRAPH_ITEM_CONFIG,
        # Each item's [ID | content] vector at unit length, so that its neighbours' messages do
        # not outscore items without edges (cold at evaluation).
        'unit_item_vectors': False,
    },
    check=_check,
    renamed={**GRAPH_ITEM_RENAMED, 'model.routing_iterations': 'routing_iterations',
             'model.unit_item_vectors': 'unit_item_vectors'}))
