"""A recommender: an item tower and a user tower, trained together.

Training (`forward`): the item tower embeds the batch's id fields, the user tower turns each
row's history into queries, and the loss scores queries against candidates through the user
tower. Full ranking: every item's vector is made once (`item_table`, or `encode` in chunks),
the user tower's `tables` turn it into what it scores against, and each user's query is scored
against all items (`jaxlens.eval`). Training and evaluation call only this class.

Towers that transform the item table (graph propagation: LightGCN here, MMGCN and GRCN next)
declare `needs_item_table`: each training step then propagates over every item's vector once,
and the propagated vectors serve the batch's slots, the candidates and the losses' table, as
the propagated user vectors serve the queries; evaluation propagates once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
from flax import nnx

from jaxlens.data.pipeline import ITEM_IDS, USER_IDS
from jaxlens.models.item_towers import ItemTower
from jaxlens.models.user_towers import Tables, UserTower


@dataclasses.dataclass(frozen=True)
class Forward:
  """What a training step's loss reads."""

  embs: dict[str, jax.Array]  # `(*ids.shape, D)` per id field of the batch
  queries: Any  # `(B, T, ...)`
  table: Callable[[], jax.Array]  # every item's vector `(vocab, D)`, for losses that need it


def _rows(table: jax.Array, ids: jax.Array) -> jax.Array:
  return table[ids] * (ids != 0)[..., None].astype(table.dtype)


class Recommender(nnx.Module):

  def __init__(self, item_tower: ItemTower, user_tower: UserTower, *,
               propagates: bool = False):
    self.item_tower = item_tower
    self.user_tower = user_tower
    self.propagates = propagates  # the user tower transforms the whole item table each step

  def forward(self, batch: dict[str, jax.Array], fields: tuple[str, ...]) -> Forward:
    """A training batch: `fields` are its id fields to embed; the history is every slot of
    `ITEM_IDS` but the last."""
    if self.propagates:
      tables = self.tables(self.item_tower.table())
      embs = {field: _rows(tables.items, batch[field]) for field in fields}
      table, users = (lambda: tables.items), tables.users
    else:
      embs = {field: self.user_tower.items(vectors, batch[field])
              for field, vectors in self.item_tower.embed(batch, fields).items()}
      table, users = (lambda: self.tables(self.item_tower.table()).items), None
    slot_ids = batch[ITEM_IDS]
    queries = self.user_tower(embs[ITEM_IDS][:, :-1], slot_ids[:, :-1] != 0, batch[USER_IDS],
                              users)
    return Forward(embs, queries, table)

  def item_table(self) -> jax.Array:
    """The item tower's vector of every item (towers with a table)."""
    return self.item_tower.table()

  def encode(self, inputs: jax.Array) -> jax.Array:
    """Item vectors from per-item inputs (towers without a table), streamed in chunks."""
    return self.item_tower.encode(inputs)

  def tables(self, items: jax.Array) -> Tables:
    """What queries are scored against, from every item's vector `(vocab, D)`."""
    return self.user_tower.propagate(items)

  def eval_queries(self, tables: Tables, inputs: jax.Array, user_ids: jax.Array):
    """`(B, ...)`: each user's query after `inputs` (B, L), the items before the target."""
    queries = self.user_tower(_rows(tables.items, inputs), inputs != 0, user_ids, tables.users)
    return jax.tree.map(lambda q: q[:, -1], queries)

  def score(self, queries, candidates: jax.Array) -> jax.Array:
    return self.user_tower.score(queries, candidates)

  def score_each(self, queries, candidates: jax.Array) -> jax.Array:
    return self.user_tower.score_each(queries, candidates)

  def is_trainable(self, path: tuple) -> bool:
    """The freezing policy over model parameter paths (item towers may freeze parts)."""
    if path[:1] == ('item_tower',):
      return self.item_tower.is_trainable(tuple(path[1:]))
    return True
