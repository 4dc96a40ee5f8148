"""Training losses by config name (`config.loss.name`), over the real queries of a batch.

A query (row u, step t) predicts the item in slot t + offset of its row (`jaxlens.data.tasks`).
Losses see only the batch's real queries, gathered into a static number of rows (`Positions`,
with `weights` 0 on filler rows): with MicroLens' short sequences most slots are padding, and
skipping them halves the softmax work without changing the loss. Each loss returns (sum over
queries, number of queries), so means are exact over a global batch. Scores come from the user
tower (`score`, `score_each`), so pair-scoring towers train with the same losses.

- `in_batch`: as the reference's `Model.forward` (`Code/VideoRec/SASRec/model/model.py`).
  Softmax over every slot embedding of the batch; logQ popularity correction on every column;
  the row's own items and padding are masked except the label. `loss.in_batch.negatives`:
  'global' takes the negatives from the whole global batch (under `jax.jit` on a sharded batch);
  a number of rows G restricts each row's columns to its group of G rows, as the reference's
  per-GPU softmax over 120 users did; the loss does not depend on the mesh either way.
- `full_softmax`: cross-entropy over all items (RecBole's SASRec); needs every item's vector each
  step (towers with a table).
- `bce`: one sampled negative per query (MoRec), not among the row's items; the pipeline samples
  it, so content towers embed it with the batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxlens import config_values
from jaxlens.errors import JaxlensError
from jaxlens.registry import Part, Registry

_MASKED = -1e4  # the reference's mask value; in fp32 its exp underflows to 0 exactly


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Positions:
  """The real queries of a batch, padded to a static count."""

  users: jax.Array  # (P,) row of each query
  steps: jax.Array  # (P,) its step t
  slots: jax.Array  # (P,) the slot of its target
  weights: jax.Array  # (P,) 1 for real queries, 0 for filler

  @classmethod
  def of(cls, query_mask: jax.Array, count: int, offset: int) -> 'Positions':
    """The first `count` real queries in row-major order (count >= the batch's total)."""
    flat = jnp.nonzero(query_mask.reshape(-1), size=count, fill_value=0)[0]
    weights = jnp.arange(count) < jnp.sum(query_mask)
    users, steps = jnp.divmod(flat, query_mask.shape[1])
    return cls(users, steps, steps + offset, weights.astype(jnp.float32))

  def total(self, losses: jax.Array):
    return jnp.sum(losses * self.weights), jnp.sum(self.weights)


@dataclasses.dataclass(frozen=True)
class LossInputs:
  """What a loss may read; built inside the traced train step."""

  queries: Any  # (P, ...) the user tower's queries at `positions`
  positions: Positions
  slot_ids: jax.Array  # (B, S)
  slot_embs: jax.Array  # (B, S, D)
  negative_embs: jax.Array | None  # (B, T, D) for losses that need negatives
  log_popularity: jax.Array  # (vocab,)
  num_items: int
  score: Callable[[Any, jax.Array], jax.Array]  # (queries, (N, D)) -> (P, N)
  score_each: Callable[[Any, jax.Array], jax.Array]  # (queries, (P, K, D)) -> (P, K)
  table: Callable[[], jax.Array]  # every item's vector (vocab, D), for losses that need it
  negatives_group: int = 0  # in_batch: rows per softmax group; 0 = the whole global batch


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(
      logits, labels[:, None], axis=-1)[:, 0]


def in_batch_softmax(x: LossInputs):
  batch, slots = x.slot_ids.shape
  p = x.positions
  columns = x.slot_ids.reshape(-1)  # (C,) with C = B * S
  logits = x.score(x.queries, x.slot_embs.reshape(batch * slots, -1)) - x.log_popularity[columns]
  own = (x.slot_ids[:, :, None] == columns[None, None, :]).any(axis=1) | (columns == 0)  # (B, C)
  masked = own[p.users]
  if x.negatives_group:
    column_rows = jnp.arange(batch * slots) // slots
    masked |= (p.users // x.negatives_group)[:, None] != (column_rows // x.negatives_group)[None]
  labels = p.users * slots + p.slots
  is_label = labels[:, None] == jnp.arange(batch * slots)[None, :]
  logits = jnp.where(masked & ~is_label, _MASKED, logits)
  return p.total(_cross_entropy(logits, labels))


def full_softmax(x: LossInputs):
  """Cross-entropy over items 1..num_items. Vocabulary padding is never scored, so a tower's
  batch statistics over its (query, candidate) pairs are the same on any mesh."""
  logits = x.score(x.queries, x.table()[:x.num_items + 1]).at[:, 0].set(-jnp.inf)
  p = x.positions
  return p.total(_cross_entropy(logits, x.slot_ids[p.users, p.slots]))


def bce(x: LossInputs):
  """Binary cross-entropy of the target against the query's sampled negative."""
  p = x.positions
  candidates = jnp.stack([x.slot_embs[p.users, p.slots], x.negative_embs[p.users, p.steps]],
                         axis=1)  # (P, 2, D)
  scores = x.score_each(x.queries, candidates)
  losses = -jax.nn.log_sigmoid(scores[:, 0]) - jax.nn.log_sigmoid(-scores[:, 1])
  return p.total(losses)


@dataclasses.dataclass(frozen=True)
class LossOptions:
  """What a loss takes from its config beside the batch."""

  popularity_power: float | None = None  # logQ correction's power; None: no correction
  negatives_group: int = 0  # in_batch: rows per softmax group; 0 = the whole global batch


@dataclasses.dataclass(frozen=True)
class LossSpec(Part):
  """A loss's registration; its own config keys live under `config.loss.<name>`."""

  fn: Callable[[LossInputs], tuple[jax.Array, jax.Array]] = dataclasses.field(kw_only=True)
  needs_table: bool = dataclasses.field(default=False, kw_only=True)  # every item, each step
  # A sampled negative per query, embedded with the batch.
  needs_negatives: bool = dataclasses.field(default=False, kw_only=True)
  why_table: str = dataclasses.field(default='', kw_only=True)
  options: Callable[[Any], LossOptions] = dataclasses.field(
      default=lambda config: LossOptions(), kw_only=True)


def negatives_group(config) -> int:
  """Rows per in-batch softmax group; 0 for 'global' (the whole global batch)."""
  negatives = str(config.loss.in_batch.negatives)
  if negatives == 'global':
    return 0
  if not negatives.isdigit() or int(negatives) <= 0:
    raise JaxlensError(f'config.loss.in_batch.negatives={negatives!r}: \'global\' or a '
                       'positive number of rows per softmax group, e.g. 120')
  return int(negatives)


def _check_in_batch(config) -> None:
  config_values.real(config, 'loss.in_batch.popularity_power')
  group = negatives_group(config)
  if group and config.train.batch_size % group:
    raise JaxlensError(f'config.loss.in_batch.negatives={config.loss.in_batch.negatives!r} does '
                       f'not divide config.train.batch_size={config.train.batch_size}: the rows '
                       'of each step must form whole groups')


REGISTRY: Registry[LossSpec] = Registry('loss', 'config.loss.name', 'loss')
REGISTRY.register(LossSpec(
    'in_batch', fn=in_batch_softmax, check=_check_in_batch,
    options=lambda config: LossOptions(config.loss.in_batch.popularity_power,
                                       negatives_group(config)),
    config={
        'popularity_power': 1.0,  # logQ correction: log of train counts to this power
        # Negatives: 'global' (the whole global batch) or a number of rows per softmax group,
        # as text (the reference's per-GPU softmax: '120' for SlowFast-r50 topT on 4 GPUs).
        'negatives': 'global',
    },
    renamed={'loss.popularity_power': 'popularity_power', 'loss.negatives': 'negatives'}))
REGISTRY.register(LossSpec(
    'full_softmax', fn=full_softmax, needs_table=True,
    why_table='it scores every item each step, so every item would be embedded each step'))
REGISTRY.register(LossSpec('bce', fn=bce, needs_negatives=True))
