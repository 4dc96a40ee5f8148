"""Exact top-K over the whole catalogue, sharded so that no device holds users x items.

Users are split over the mesh axis of the `batch` rule (`data`), the item table over the axis of
the `items` rule (`model`). Each device scores its users against its block of items (the user
tower's own `score`, as the evaluation), masks what is not a candidate, keeps its block's top K
(`jax.lax.top_k`), and the K-lists of the item blocks are gathered and merged by a second top K:
per device the work is a `(users / data devices) x (items / model devices)` block, never the whole
matrix.

Candidates are table rows 1..`num_items` (row 0 is padding; rows past it pad the table to the
mesh) that are not among a user's excluded items. Ties keep the lower item row first.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from jaxlens import sharding


def _block_top_k(score, queries, items, exclude, *, k: int, num_items: int, axis: str | None):
  """One device: its users' top K of its item block, merged over the item devices."""
  rows = items.shape[0]
  offset = (jax.lax.axis_index(axis) * rows) if axis else 0
  ids = offset + jnp.arange(rows)
  scores = score(queries, items).astype(jnp.float32)
  local = exclude - offset  # excluded ids as rows of this block; others fall outside and drop
  excluded = jnp.zeros(scores.shape, bool).at[
      jnp.arange(scores.shape[0])[:, None], jnp.where((local >= 0) & (exclude > 0), local,
                                                      rows)].set(True, mode='drop')
  candidate = (ids >= 1) & (ids <= num_items)
  scores = jnp.where(candidate[None] & ~excluded, scores, -jnp.inf)
  values, positions = jax.lax.top_k(scores, min(k, rows))
  found = ids[positions]
  if axis is None:
    return values, found
  values = jax.lax.all_gather(values, axis, axis=1, tiled=True)
  found = jax.lax.all_gather(found, axis, axis=1, tiled=True)
  # Lists arrive in block order, so equal scores still keep the lower row first.
  values, positions = jax.lax.top_k(values, k)
  return values, jnp.take_along_axis(found, positions, axis=1)


def top_k(score, queries, items: jax.Array, exclude: jax.Array, *, k: int, num_items: int,
          mesh: jax.sharding.Mesh, rules) -> tuple[jax.Array, jax.Array]:
  """(scores `(B, k)` float32, item rows `(B, k)` int32), best first; `-inf` where a user has
  fewer than k candidates.

  `score(queries, items)` -> `(b, n)`: a user tower's `score`. queries: `(B, ...)` pytree, B a
  multiple of the user devices; items `(V, D)` (padded here to a multiple of the item devices);
  exclude `(B, H)` rows not to recommend (0 = none).
  """
  user_axis = sharding.mesh_axis(rules, 'batch')
  item_axis = sharding.mesh_axis(rules, 'items')
  if item_axis == user_axis:
    item_axis = None
  item_devices = mesh.shape[item_axis] if item_axis else 1
  items = jnp.pad(items, ((0, -items.shape[0] % item_devices), (0, 0)))
  block = functools.partial(_block_top_k, score, k=k, num_items=num_items, axis=item_axis)
  # The merged lists are equal on every item device (gathered, then the same top K), which the
  # replication check cannot see through `top_k`.
  return jax.shard_map(block, mesh=mesh, in_specs=(P(user_axis), P(item_axis), P(user_axis)),
                       out_specs=(P(user_axis), P(user_axis)), check_vma=False)(
                           queries, items, exclude)
