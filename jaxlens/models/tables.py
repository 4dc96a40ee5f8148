"""Embedding tables sharded over their rows: vocabulary padding, mesh-independent initialisation.

A table split over a mesh axis needs a row count that the axis divides, so it is padded with
zero rows, to a multiple of 128 and of the axis (`sharding.Layout.row_multiple`): the same shape
on every mesh whose axis divides 128. The random rows are drawn for the real rows only, so a run
initialises identically on any mesh, and a checkpoint restores on another mesh.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx


def padded_rows(rows: int, multiple: int) -> int:
  return -(-rows // multiple) * multiple


def xavier_rows_init(real_rows: int, *, zero_first: bool = False):
  """Xavier-normal rows 0..real_rows-1 (row 0 zero when it is padding), zero rows after them."""

  def init(key, shape, dtype=jnp.float32):
    rows = nnx.initializers.xavier_normal()(key, (real_rows,) + shape[1:], dtype)
    if zero_first:
      rows = rows.at[0].set(0)
    return jnp.pad(rows, ((0, shape[0] - real_rows), (0, 0)))

  return init


def sharded_table(real_rows: int, hidden: int, logical_rows: str, *, multiple: int,
                  rngs: nnx.Rngs, dtype, zero_first: bool = False) -> nnx.Embed:
  """An `nnx.Embed` of `real_rows` rows padded to `multiple`, split over `logical_rows`."""
  return nnx.Embed(
      padded_rows(real_rows, multiple), hidden, dtype=dtype, rngs=rngs,
      embedding_init=nnx.with_partitioning(xavier_rows_init(real_rows, zero_first=zero_first),
                                           (logical_rows, 'embed')))
