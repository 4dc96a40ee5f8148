"""The ID item tower: one embedding row per item, sharded over items.

Unlike the reference (whose xavier init overwrote the padding row with a fixed random vector),
row 0 is zero and every padding slot is masked to zero, so padding carries no signal. Rows past
`num_items` only pad the vocabulary to a multiple of 128 and of the mesh axis that shards it
(`jaxlens.models.tables`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.data.protocol import Interactions
from jaxlens.models import tables
from jaxlens.models.item_towers.base import REGISTRY, ItemTower, ItemTowerSpec
from jaxlens.sharding import Layout


class IdTower(ItemTower):

  def __init__(self, num_items: int, hidden: int, *, vocab_multiple: int = 1, rngs: nnx.Rngs,
               dtype=jnp.float32):
    self.num_items = num_items
    self.embedding = tables.sharded_table(num_items + 1, hidden, 'items', multiple=vocab_multiple,
                                          rngs=rngs, dtype=dtype, zero_first=True)

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


def _build(config, data: Interactions, *, layout: Layout, rngs: nnx.Rngs, dtype) -> IdTower:
  return IdTower(data.num_items, config.model.hidden, vocab_multiple=layout.row_multiple('items'),
                 rngs=rngs, dtype=dtype)


REGISTRY.register(ItemTowerSpec('id', build=_build, has_table=True,
                                description='a learned vector per item (IDRec)'))
