"""The ID item tower: one embedding row per item, sharded over items.

Unlike the reference (whose xavier init overwrote the padding row with a fixed random vector),
row 0 is zero and every padding slot is masked to zero, so padding carries no signal. Rows past
`num_items` only pad the vocabulary to a multiple of the mesh axis that shards it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.item_towers.base import REGISTRY, ItemTower, ItemTowerSpec


def _table_init(num_items: int):
  """Xavier-normal rows for items 1..N; zero padding row and zero vocabulary padding.

  The random part depends on N only, not on the padded size, so a run initialises identically
  on any mesh.
  """

  def init(key, shape, dtype=jnp.float32):
    rows = nnx.initializers.xavier_normal()(key, (num_items + 1,) + shape[1:], dtype).at[0].set(0)
    return jnp.pad(rows, ((0, shape[0] - num_items - 1), (0, 0)))

  return init


class IdTower(ItemTower):

  def __init__(self, num_items: int, hidden: int, *, vocab_multiple: int = 1, rngs: nnx.Rngs,
               dtype=jnp.float32):
    self.num_items = num_items
    rows = -(-(num_items + 1) // vocab_multiple) * vocab_multiple
    self.embedding = nnx.Embed(
        rows, hidden, dtype=dtype, rngs=rngs,
        embedding_init=nnx.with_partitioning(_table_init(num_items), ('items', 'embed')))

  def __call__(self, item_ids: jax.Array) -> jax.Array:
    """Embeddings of the given ids; padding (0) gives exact zeros and no gradient."""
    return self.embedding(item_ids) * (item_ids != 0)[..., None].astype(self.embedding.dtype)

  @property
  def vocab_size(self) -> int:
    return self.embedding.num_embeddings

  def embed(self, batch, fields):
    return {field: self(batch[field]) for field in fields}

  def table(self) -> jax.Array:
    return self.embedding.embedding[...].astype(self.embedding.dtype).at[0].set(0)


def _build(config, num_items: int, *, vocab_multiple: int, rngs: nnx.Rngs, dtype) -> IdTower:
  return IdTower(num_items, config.model.hidden, vocab_multiple=vocab_multiple, rngs=rngs,
                 dtype=dtype)


REGISTRY.register(ItemTowerSpec('id', _build, has_table=True,
                                description='a learned vector per item (IDRec)'))
