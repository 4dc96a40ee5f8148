"""The user-item graph of the training interactions, and one propagation step over it.

Propagation is LightGCN's `A_hat E` (the reference's
`Code/IDRec/LightGCN/REC/model/IdModel/lightgcn.py`): `A_hat = D^-1/2 A D^-1/2` over the
bipartite graph of the training interactions, duplicates kept (a repeat is a second edge),
degree 0 read as 1. It is a sparse product over an edge list: each edge (u, i, w) sends
w * item_i to user u and w * user_u to item i (`jax.ops.segment_sum`), never a dense users x
items matrix. Other graph towers give their own per-edge weights, one per direction: MMGCN the
mean over a node's neighbours (`mean=True`), GRCN attention computed each step (`dots`,
`softmax`).

Layout, so that it scales to the full MicroLens (1B edges, 34.5M users):
- User vectors are split over the mesh axis of the 'users' rule (S shards of U/S rows).
- The edges are grouped by the shard of their user and split evenly over every device: device
  (s, r), r along the other mesh axes, holds only edges of users in shard s, sorted by user.
- Each device gathers its edges' items from the whole item table (replicated for propagation),
  sums them into its own users (all-reduced over the n/S devices of its user shard), and sums
  its users' vectors into a partial item table (all-reduced over all n devices).
- Per device and step: E/n edges (12 bytes each, sharded like the data, not copied), U/S x D
  user rows, a few I x D item tables, and gathered rows for at most `EDGE_CHUNK` edges at a
  time (edges are scanned in chunks). Time: O(E x D / n) for the sums, plus per layer an
  all-reduce of I x D over all devices and of U/S x D over n/S devices.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import PartitionSpec as P

from jaxlens.models.tables import padded_rows
from jaxlens.models.variables import DataArray
from jaxlens.sharding import Layout

Weights = tuple[jax.Array, jax.Array]  # per edge: the weights of its messages to users, to items
EDGE_CHUNK = 1 << 20  # edges gathered at once per device: bounds the (chunk, D) temporaries
EDGE_BLOCK = 1 << 22  # edges the host prepares at once: bounds its temporaries, not the graph


def _per_edge(fn: Callable[..., np.ndarray], arrays: tuple[np.ndarray, ...],
              dtype=np.float32) -> np.ndarray:
  """`fn(*arrays)` of per-edge arrays, computed `EDGE_BLOCK` edges at a time, so that its
  temporaries (float64 degrees) are a block's, not a billion edges'."""
  out = np.empty(len(arrays[0]), dtype)
  for start in range(0, len(out), EDGE_BLOCK):
    block = slice(start, start + EDGE_BLOCK)
    out[block] = fn(*(a[block] for a in arrays))
  return out


def normalized_weights(users: np.ndarray, items: np.ndarray) -> np.ndarray:
  """`1 / sqrt(deg(u) deg(i))` per edge, degrees counting repeated interactions."""
  user_degree = np.bincount(users).astype(np.float64)
  item_degree = np.bincount(items).astype(np.float64)
  return _per_edge(lambda u, i: 1 / np.sqrt(user_degree[u] * item_degree[i]), (users, items))


def _by_user_then_item(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """`(users, items)` sorted by user, then item. Edges that come user-major (as
  `Interactions.train_interactions` gives them) are sorted a block of whole users at a time:
  the full MicroLens has 379 million training edges, and one sort of them all takes 8 bytes an
  edge for its permutation alone."""
  if len(users) and not np.all(users[1:] >= users[:-1]):
    order = np.lexsort((items, users))
    return users[order], items[order]
  sorted_items = np.empty_like(items)
  start = 0
  while start < len(users):
    # A block ends where a user does, so that no user's edges are split.
    stop = min(start + EDGE_BLOCK, len(users))
    stop = int(np.searchsorted(users, users[stop - 1], side='right'))
    within = np.lexsort((items[start:stop], users[start:stop]))
    sorted_items[start:stop] = items[start:stop][within]
    start = stop
  return users, sorted_items


class BipartiteGraph(nnx.Module):
  """The edges (user u, item i) laid out over the mesh; `__call__` is one propagation step."""

  def __init__(self, users: np.ndarray, items: np.ndarray, num_user_rows: int, layout: Layout,
               *, mean: bool = False):
    """`num_user_rows` (a multiple of the 'users' shards) is the size of the user tables; `mean`
    also lays out `1/deg(u)` and `1/deg(i)` per edge (`mean_weights`)."""
    mesh, user_axis = layout.mesh, layout.axis('users')
    self.mesh, self.user_axis, self.num_user_rows = mesh, user_axis, num_user_rows
    self.other_axes = tuple(a for a in mesh.axis_names if a != user_axis)
    self.edge_axes = ((user_axis,) if user_axis else ()) + self.other_axes
    shards = layout.shards('users')
    self.rows_per_shard = rows = num_user_rows // shards
    devices_per_shard = mesh.size // shards
    if mean:
      user_means, item_means = (1 / np.maximum(np.bincount(ids), 1).astype(np.float64)
                                for ids in (users, items))
    users, items = _by_user_then_item(users, items)  # each device's users come sorted
    weights = normalized_weights(users, items)
    counts = np.diff(np.searchsorted(users, np.arange(shards + 1) * rows))
    per_device = max(1, -(-counts.max() // devices_per_shard))
    if per_device > EDGE_CHUNK:
      per_device = padded_rows(per_device, EDGE_CHUNK)
    shard_starts = np.cumsum(counts) - counts

    def slots(edges: np.ndarray, users: np.ndarray) -> np.ndarray:
      """Where edges (positions in user order) go: their user shard's devices, in order."""
      shard = users // rows
      rank = edges - shard_starts[shard]
      return (shard * devices_per_shard + rank // per_device) * per_device + rank % per_device

    size = mesh.size * per_device
    # Filler edges have weight 0, the last local user (keeps users sorted) and item 0.
    local_users = np.full(size, rows - 1, np.int32)
    edge_items = np.zeros(size, np.int32)
    edge_weights = np.zeros(size, np.float32)
    mean_to = [np.zeros(size, np.float32) for _ in range(2)] if mean else []
    for start in range(0, len(users), EDGE_BLOCK):
      block = slice(start, start + EDGE_BLOCK)
      slot = slots(np.arange(start, min(start + EDGE_BLOCK, len(users))), users[block])
      local_users[slot] = users[block] % rows
      edge_items[slot] = items[block]
      edge_weights[slot] = weights[block]
      if mean:  # filler edges keep weight 0
        mean_to[0][slot] = user_means[users[block]]
        mean_to[1][slot] = item_means[items[block]]
    # Host arrays, laid out by `sharding.place` (as shapes only when the model is abstract: a
    # TPU topology compiled for on a CPU host has no memory to put them in).
    spec = P(self.edge_axes)
    place = lambda host: DataArray(host, partition=spec)
    self.edge_users, self.edge_items, self.edge_weights = (
        place(local_users), place(edge_items), place(edge_weights))
    if mean:
      self.mean_to_users, self.mean_to_items = (place(values) for values in mean_to)

  def mean_weights(self) -> tuple[jax.Array, jax.Array]:
    """Per edge `(1/deg(u), 1/deg(i))`: `__call__` with them averages each node's neighbours."""
    return self.mean_to_users[...], self.mean_to_items[...]

  def _edges(self):
    return self.edge_users[...], self.edge_items[...], self.edge_weights[...]

  def _specs(self):
    return P(self.user_axis), P(self.edge_axes)

  def dots(self, users: jax.Array, items: jax.Array) -> jax.Array:
    """`<users[u], items[i]>` per edge (filler edges too), laid out as the edges."""

    def local(users, items, edge_users, edge_items):
      chunk = min(EDGE_CHUNK, edge_users.shape[0])
      dot = lambda _, e: (None, jnp.einsum('ed,ed->e', users[e[0]], items[e[1]],
                                           preferred_element_type=jnp.float32))
      _, out = jax.lax.scan(dot, None, (edge_users.reshape(-1, chunk),
                                        edge_items.reshape(-1, chunk)))
      return out.reshape(-1)

    user_spec, edge_spec = self._specs()
    edge_users, edge_items, _ = self._edges()
    return jax.shard_map(local, mesh=self.mesh, in_specs=(user_spec, P(), edge_spec, edge_spec),
                         out_specs=edge_spec)(users, items, edge_users, edge_items)

  def item_values(self, values: jax.Array) -> jax.Array:
    """`values[i]` of each edge's item, for a width-1 item table `(I, 1)`, laid out as the
    edges."""
    return self.dots(jnp.ones((self.num_user_rows, 1), values.dtype), values)

  def softmax(self, logits: jax.Array, num_items: int) -> tuple[jax.Array, jax.Array]:
    """Per edge, the softmax of `logits` (laid out as the edges) over its user's edges and over
    its item's edges (`num_items` item rows): attention weights for messages to users and to
    items. Filler edges get 0."""
    other, every = self.other_axes, self.edge_axes

    def over(logits, real, segments, size, axes):
      logits = jnp.where(real, logits, -1e30)
      # The shift cancels in the softmax: no gradient through it (pmax has no derivative).
      top = jax.ops.segment_max(jax.lax.stop_gradient(logits), segments, size)
      top = jax.lax.pmax(top, axes) if axes else top
      exp = jnp.exp(logits - top[segments]) * real
      total = jax.ops.segment_sum(exp, segments, size)
      total = jax.lax.psum(total, axes) if axes else total
      return exp / jnp.maximum(total[segments], 1e-30)

    def local(logits, edge_users, edge_items, edge_weights):
      real = edge_weights > 0
      return (over(logits, real, edge_users, self.rows_per_shard, other),
              over(logits, real, edge_items, num_items, every))

    edge_spec = P(self.edge_axes)
    return jax.shard_map(local, mesh=self.mesh, in_specs=(edge_spec,) * 4,
                         out_specs=(edge_spec, edge_spec))(logits, *self._edges())

  def _local_step(self, users, items, edge_users, edge_items, to_users_weights,
                  to_items_weights):
    """One device: its users' and a partial item table's sums over its edges, chunk by chunk."""
    chunk = min(EDGE_CHUNK, edge_users.shape[0])
    chunks = lambda a: a.reshape(-1, chunk)

    def add(sums, edges):
      to_users, to_items = sums
      u, i, w_users, w_items = edges
      w_users, w_items = (w[:, None].astype(items.dtype) for w in (w_users, w_items))
      to_users += jax.ops.segment_sum(items[i] * w_users, u, users.shape[0],
                                      indices_are_sorted=True)
      # One sum after the other: XLA:CPU ran the two at once, 22% slower per step on 2 cores.
      to_users, users_now = jax.lax.optimization_barrier((to_users, users))
      to_items += jax.ops.segment_sum(users_now[u] * w_items, i, items.shape[0])
      return (to_users, to_items), None

    varying = lambda a: jax.lax.pcast(jnp.zeros(a.shape, a.dtype), self.edge_axes, to='varying')
    zeros = (varying(users), varying(items))  # per-device partial sums
    (to_users, to_items), _ = jax.lax.scan(
        add, zeros, (chunks(edge_users), chunks(edge_items), chunks(to_users_weights),
                     chunks(to_items_weights)))
    if self.other_axes:
      to_users = jax.lax.psum(to_users, self.other_axes)
    return to_users, jax.lax.psum(to_items, self.edge_axes)

  def __call__(self, users: jax.Array, items: jax.Array,
               weights: tuple[jax.Array, jax.Array] | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """`(A_hat [users; items])`: user rows `(U, D)` (sharded over users) and the item table
    `(I, D)`, both from the previous step's vectors. `weights`: per-edge weights of the messages
    to users and to items, laid out as the edges (`mean_weights`, `softmax`); default `A_hat`'s."""
    user_spec, edge_spec = self._specs()
    edge_users, edge_items, edge_weights = self._edges()
    to_users, to_items = weights if weights is not None else (edge_weights, edge_weights)
    step = jax.shard_map(self._local_step, mesh=self.mesh,
                         in_specs=(user_spec, P()) + (edge_spec,) * 4,
                         out_specs=(user_spec, P()))
    return step(users, items, edge_users, edge_items, to_users, to_items)


class ItemDropout(nnx.Module):
  """Item node dropout for cold start: in a training step, each item is left out of the graph
  with probability `rate`, as an item never seen in training is at evaluation: it sends and
  receives no message, and its learned ID vector is hidden. A graph tower then learns to rank an
  item by its content alone, where messages make up most of a seen item's vector (DropoutNet's
  idea, Volkovs et al. 2017, as NGCF's node dropout). Messages to users are rescaled by
  `1 / (1 - rate)`, as dropout does, so that a user's sum keeps its size. Evaluation drops
  nothing, and hides the ID vectors of items without training interactions: never trained,
  they hold their random initial values."""

  def __init__(self, rate: float, data, layout: Layout, *, rngs: nnx.Rngs):
    """`data`: the `Interactions` of the graph; item rows are padded as the item tables."""
    self.dropout = nnx.Dropout(rate, rngs=rngs)
    # Per item row, 1 if it has a training interaction: needed with a rate only.
    self.seen = DataArray(jnp.asarray(_seen_items(data, layout))) if rate else None

  def __call__(self, graph_: BipartiteGraph) -> tuple[Callable[[Weights], Weights],
                                                      Callable[[jax.Array], jax.Array]]:
    """This step's draw: a function that zeroes the left-out items' edges in per-edge weights
    `(to users, to items)`, and one that zeroes their rows of an item ID table `(I, D)`."""
    if self.seen is None:
      return (lambda weights: weights), (lambda ids: ids)
    if self.dropout.deterministic:
      return (lambda weights: weights), (lambda ids: ids * self.seen[...].astype(ids.dtype))
    scale = self.dropout(jnp.ones_like(self.seen[...]))
    per_edge = graph_.item_values(scale)

    def drop(weights: Weights) -> Weights:
      to_users, to_items = weights
      return to_users * per_edge.astype(to_users.dtype), jnp.where(per_edge > 0, to_items, 0)

    return drop, lambda ids: jnp.where(scale > 0, ids, 0)


def training_graph(data, layout: Layout, *, mean: bool = False) -> BipartiteGraph:
  """The graph of `data`'s training interactions (`Interactions`), its user rows padded as the
  graph towers' user tables."""
  users, slots = data.train_interactions()
  items = data.train_slots[users, slots]
  del slots  # 4 bytes an edge the build does not need
  return BipartiteGraph(users, items, padded_rows(data.num_users, layout.row_multiple('users')),
                        layout, mean=mean)


def _seen_items(data, layout: Layout) -> np.ndarray:
  counts = data.train_item_counts()
  seen = np.zeros((padded_rows(len(counts), layout.row_multiple('items')), 1), np.float32)
  seen[:len(counts), 0] = counts > 0
  return seen

