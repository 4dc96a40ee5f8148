"""Next-item losses over the valid positions of left-padded sequences.

Position (u, t) (input slot t of user u) predicts slot t+1; it counts when slot t holds a real
item. Losses see only the batch's valid positions, gathered into a static number of rows
(`positions`, flat indices into B*L, with `weights` 0 on filler rows): with MicroLens' short
sequences most slots are padding, and skipping them halves the softmax work without changing the
loss. Each loss returns (sum over positions, number of positions), so means are exact over a
global batch.

- `in_batch`: reference section 2.2. Softmax over every slot embedding of the batch; logQ
  popularity correction on every column; the user's own items and padding are masked except the
  label. Under `jax.jit` on a sharded batch the negatives come from the whole global batch (the
  reference used each GPU's batch only).
- `full_softmax`: cross-entropy over all items (RecBole's SASRec).
- `bce`: one random negative per position (MoRec), not among the user's own items.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

_MASKED = -1e4  # the reference's mask value; in fp32 its exp underflows to 0 exactly


def position_mask(slot_ids: jax.Array) -> jax.Array:
  """`(B, L)`: input slot t is real (its target, slot t+1, then is too)."""
  return slot_ids[:, :-1] != 0


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Positions:
  """The valid positions of a batch, padded to a static count."""

  users: jax.Array  # (P,) row of each position
  steps: jax.Array  # (P,) input slot t
  weights: jax.Array  # (P,) 1 for real positions, 0 for filler

  @classmethod
  def of(cls, slot_ids: jax.Array, count: int) -> 'Positions':
    """The first `count` valid positions in row-major order (count >= the batch's total)."""
    mask = position_mask(slot_ids)
    flat = jnp.nonzero(mask.reshape(-1), size=count, fill_value=0)[0]
    weights = jnp.arange(count) < jnp.sum(mask)
    users, steps = jnp.divmod(flat, mask.shape[1])
    return cls(users, steps, weights.astype(jnp.float32))

  def targets(self, slot_ids: jax.Array) -> jax.Array:
    return slot_ids[self.users, self.steps + 1]

  def total(self, losses: jax.Array):
    return jnp.sum(losses * self.weights), jnp.sum(self.weights)


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(
      logits, labels[:, None], axis=-1)[:, 0]


def in_batch_softmax(states: jax.Array, slot_embs: jax.Array, slot_ids: jax.Array,
                     log_pop: jax.Array, positions: Positions):
  """states `(B, L, D)`, slot_embs `(B, L+1, D)`, slot_ids `(B, L+1)`, log_pop `(vocab,)`."""
  batch, slots = slot_ids.shape
  columns = slot_ids.reshape(-1)  # (C,) with C = B * (L + 1)
  queries = states[positions.users, positions.steps]  # (P, D)
  logits = jnp.einsum('pd,cd->pc', queries, slot_embs.reshape(batch * slots, -1),
                      preferred_element_type=jnp.float32)
  logits = logits - log_pop[columns]
  own = (slot_ids[:, :, None] == columns[None, None, :]).any(axis=1) | (columns == 0)  # (B, C)
  labels = positions.users * slots + positions.steps + 1
  is_label = labels[:, None] == jnp.arange(batch * slots)[None, :]
  logits = jnp.where(own[positions.users] & ~is_label, _MASKED, logits)
  return positions.total(_cross_entropy(logits, labels))


def full_softmax(states: jax.Array, table: jax.Array, slot_ids: jax.Array, num_items: int,
                 positions: Positions):
  """Cross-entropy over items 1..num_items; table `(vocab, D)` (padding rows excluded)."""
  queries = states[positions.users, positions.steps]
  logits = jnp.einsum('pd,vd->pv', queries, table, preferred_element_type=jnp.float32)
  vocab = jnp.arange(table.shape[0])
  logits = jnp.where((vocab == 0) | (vocab > num_items), -jnp.inf, logits)
  return positions.total(_cross_entropy(logits, positions.targets(slot_ids)))


def sample_negatives(rng: jax.Array, slot_ids: jax.Array, num_items: int,
                     candidates: int = 8) -> jax.Array:
  """One item per position `(B, L)`, uniform over items not in the user's slots (first of K)."""
  batch, slots = slot_ids.shape
  draws = jax.random.randint(rng, (batch, slots - 1, candidates), 1, num_items + 1)
  clash = (draws[..., None] == slot_ids[:, None, None, :]).any(axis=-1)
  first_free = jnp.argmax(~clash, axis=-1)
  return jnp.take_along_axis(draws, first_free[..., None], axis=-1)[..., 0]


def bce(states: jax.Array, slot_embs: jax.Array, negative_embs: jax.Array, positions: Positions):
  """Binary cross-entropy of the next item against one negative per position."""
  queries = states[positions.users, positions.steps]
  positive = jnp.sum(queries * slot_embs[positions.users, positions.steps + 1], axis=-1)
  negative = jnp.sum(queries * negative_embs[positions.users, positions.steps], axis=-1)
  losses = -jax.nn.log_sigmoid(positive) - jax.nn.log_sigmoid(-negative)
  return positions.total(losses)
