"""What a user tower is, and the registry that picks one by name (`config.model.user_tower`).

A user tower turns what is known about a user at a point in time (the embeddings of the items
before it, the user's id) into a query, and scores queries against candidate items. Every tower
is a `UserTower`; its `UserTowerSpec` says which training sample layout it learns from
(`jaxlens.data.tasks`), whether it needs every item's vector each step, and what the paper ran
it with.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.registry import Part, Registry

# The paper's class of a tower's ID-only model (`report.naming`): collaborative filtering,
# sequential recommendation, or a VIDRec model that the benchmark also runs on IDs (`_ID`).
FAMILIES = ('cf', 'sr', 'vidrec')


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Tables:
  """Every item's vector as the user tower sees it, and every user's vector for towers that
  compute them all at once (graph propagation); made once per step or per evaluation."""

  items: jax.Array  # (vocab, D)
  users: jax.Array | None = None  # (user rows, D)


class UserTower(nnx.Module):
  """The interface of user towers.

  - `__call__(history, mask, user_ids, users=None)`: history `(B, L, D)` item embeddings
    (left-padded; L may be 0 for towers that read no history), mask `(B, L)` true on real
    items, user_ids `(B,)`, `users` the propagated user vectors of graph towers ->
    queries `(B, T, ...)`, one per query step of the task (T = L for sequence towers, whose step
    t sees the items up to t; T = 1 otherwise). A query is a vector `(D,)` for dot-product towers
    or any per-step pytree a pair-scoring tower's `score` reads.
  - `score(queries (P, ...), candidates (N, D)) -> (P, N)` and `score_each(queries (P, ...),
    candidates (P, K, D)) -> (P, K)`: dot products by default. Pair-scoring towers (NFM, DeepFM)
    override both; full ranking calls `score` with every item as a candidate, so they factorise
    what is linear in the candidate rather than run a network on every (user, item) pair.
  - `items(vectors, ids)`: the tower's own view of any item vectors `(..., D)` with their ids
    (a batch's slots, every item): the identity, or a per-item map (DSSM's item MLP).
  - `propagate(items (vocab, D)) -> Tables`: towers whose spec says `needs_item_table` (graph
    towers) make new item vectors and every user's vector from every item's vector; the
    Recommender uses them for the batch's slots, the candidates and the evaluation table.
  """

  def __call__(self, history: jax.Array, mask: jax.Array, user_ids: jax.Array,
               users: jax.Array | None = None) -> jax.Array:
    raise NotImplementedError

  def score(self, queries: jax.Array, candidates: jax.Array) -> jax.Array:
    return jnp.einsum('pd,nd->pn', queries, candidates, preferred_element_type=jnp.float32)

  def score_each(self, queries: jax.Array, candidates: jax.Array) -> jax.Array:
    return jnp.einsum('pd,pkd->pk', queries, candidates, preferred_element_type=jnp.float32)

  def items(self, vectors: jax.Array, ids: jax.Array) -> jax.Array:
    del ids
    return vectors

  def propagate(self, items: jax.Array) -> Tables:
    return Tables(self.items(items, jnp.arange(items.shape[0])))


class GraphUserTower(UserTower):
  """Graph towers (LightGCN, MMGCN, GRCN): `propagate` makes every user's vector; a query is
  its user's."""

  def __call__(self, history, mask, user_ids, users=None):
    del history, mask
    return users[user_ids][:, None]


@dataclasses.dataclass(frozen=True)
class UserTowerSpec(Part):
  """A user tower's registration; its own config keys live under `config.model.<name>`."""

  # build(config, data: Interactions, *, layout: sharding.Layout, rngs, dtype) -> UserTower
  build: Callable[..., UserTower] = dataclasses.field(kw_only=True)
  task: str = dataclasses.field(kw_only=True)  # the training sample layout, `jaxlens.data.tasks`
  # The reference's global batch, what `train.batch_size=-1` means.
  paper_batch_size: int = dataclasses.field(kw_only=True)
  paper_name: str = dataclasses.field(kw_only=True)  # 'SASRec': report rows are named after it
  family: str = dataclasses.field(kw_only=True)  # one of FAMILIES
  # Every item's vector each step (graph propagation): only item towers with a table serve it.
  needs_item_table: bool = dataclasses.field(default=False, kw_only=True)
  description: str = dataclasses.field(default='', kw_only=True)

  @property
  def reads_history(self) -> bool:
    """Queries come from the items a user saw (sequence and history tasks), so a history never
    seen in training has one; `pair` towers score a trained user's own vector."""
    return self.task != 'pair'

  def __post_init__(self):
    if self.family not in FAMILIES:
      raise ValueError(f'user tower {self.name!r}: family {self.family!r} is not one of '
                       f'{FAMILIES}')


REGISTRY: Registry[UserTowerSpec] = Registry('user tower', 'config.model.user_tower', 'model')
