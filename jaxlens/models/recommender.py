"""A recommender: an item tower and a user tower, trained together.

Training: the item tower embeds the batch's id fields, the user tower turns each row's history
into queries, and the loss scores queries against candidates through the user tower. Full
ranking: every item is embedded once (`jaxlens.eval`), each user's query is scored against all.
"""

from __future__ import annotations

import jax
from flax import nnx

from jaxlens.models.item_towers import ItemTower
from jaxlens.models.user_towers import UserTower


class Recommender(nnx.Module):

  def __init__(self, item_tower: ItemTower, user_tower: UserTower):
    self.item_tower = item_tower
    self.user_tower = user_tower

  def embed(self, batch: dict[str, jax.Array], fields: tuple[str, ...]) -> dict[str, jax.Array]:
    return self.item_tower.embed(batch, fields)

  def queries(self, slot_embs: jax.Array, slot_ids: jax.Array, user_ids: jax.Array):
    """`(B, T, ...)` from a training batch: the history is every slot but the last."""
    return self.user_tower(slot_embs[:, :-1], slot_ids[:, :-1] != 0, user_ids)

  def eval_queries(self, table: jax.Array, inputs: jax.Array, user_ids: jax.Array):
    """`(B, ...)`: each user's query after `inputs` (B, L), the items before the target."""
    history = table[inputs] * (inputs != 0)[..., None].astype(table.dtype)
    return jax.tree.map(lambda q: q[:, -1], self.user_tower(history, inputs != 0, user_ids))

  def score(self, queries, candidates: jax.Array) -> jax.Array:
    return self.user_tower.score(queries, candidates)

  def score_each(self, queries, candidates: jax.Array) -> jax.Array:
    return self.user_tower.score_each(queries, candidates)

  def is_trainable(self, path: tuple) -> bool:
    """The freezing policy over model parameter paths (item towers may freeze parts)."""
    if path[:1] == ('item_tower',):
      return self.item_tower.is_trainable(tuple(path[1:]))
    return True
