"""Every user's target ranked among all candidate items, with the protocol's masks.

Candidates are all items except padding, vocabulary padding and the user's history. Unlike the
reference, a target that also occurs in the history stays a candidate (the reference scored it
-inf, a guaranteed miss for every repeat interaction): the target's score is read before the
history is masked, and only other items are compared with it.

Ties count against the target: its rank is 1 + the number of other candidates scoring at least
as high, so constant or collapsed scores rank every target last among its equals rather than
first. A non-finite target score (a diverged user vector) is a miss, and a candidate whose score
is NaN counts as ranked above the target: a number is never better than the truth.

A batch is ranked in blocks of users (`user_blocks`, `blockwise`), so a device holds a bounded
number of scores at once (`SCORES_PER_BLOCK`): on a CPU a buffer of a whole batch's scores is
paged in afresh at every batch, and a big catalogue's would not fit a chip.
"""

from __future__ import annotations

from collections.abc import Callable
import math

import jax
import jax.numpy as jnp

# Float32 scores one device holds at once, by platform. A CPU's 16 MiB are reused from one batch
# to the next; an accelerator ranks its whole share of a batch unless that takes over 2 GiB (on
# a v5e-256, SASRec-ID's ranking of the full MicroLens in 32 blocks needed 2.19 GiB more a chip,
# and a 57% longer bound, than at once; DSSM's in 2 blocks a 16% longer bound).
SCORES_PER_BLOCK = {'cpu': 2**22}
ACCELERATOR_SCORES_PER_BLOCK = 2**29


def target_ranks(scores: jax.Array, targets: jax.Array, history: jax.Array,
                 num_items: int) -> jax.Array:
  """1-based ranks `(B,)`, `num_items + 1` for a miss.

  scores `(B, V)` over the item table's rows, targets `(B,)`, history `(B, H)` item ids (0 =
  none).
  """
  target_scores = jnp.take_along_axis(scores, targets[:, None], axis=1)
  vocab = jnp.arange(scores.shape[1])
  candidate = (vocab != 0) & (vocab <= num_items) & (vocab != targets[:, None])
  # Per row (a scatter with a batch dimension), so that a device needs no other's history.
  candidate = jax.vmap(lambda row, seen: row.at[seen].set(False))(candidate, history)
  above = (scores >= target_scores) | jnp.isnan(scores)
  ranks = 1 + jnp.sum(above & candidate, axis=1)
  return jnp.where(jnp.isfinite(target_scores[:, 0]), ranks, num_items + 1).astype(jnp.int32)


def user_blocks(users: int, vocab: int, shards: int = 1, platform: str = 'cpu') -> int:
  """How many blocks to rank a batch of `users` in (over `shards` devices of `platform`) so that
  each device scores at most its platform's `SCORES_PER_BLOCK` of the `vocab` columns at once:
  the fewest that divide every shard's users evenly."""
  per_shard = max(1, users // shards)
  budget = SCORES_PER_BLOCK.get(platform, ACCELERATOR_SCORES_PER_BLOCK)
  fitting = max(1, budget // vocab)  # users a device may score at once
  return next(blocks for blocks in range(math.ceil(per_shard / fitting), per_shard + 1)
              if per_shard % blocks == 0)


def blockwise(fn: Callable, args: tuple, blocks: int):
  """`fn(*args)`, computed one block of rows at a time: row b of every leaf's leading axis goes
  to block `b % blocks`, so a batch split in contiguous shards gives each device a share of every
  block from its own rows."""
  if blocks == 1:
    return fn(*args)
  split = lambda x: x.reshape(x.shape[0] // blocks, blocks, *x.shape[1:]).swapaxes(0, 1)
  join = lambda y: y.swapaxes(0, 1).reshape(-1, *y.shape[2:])
  return jax.tree.map(join, jax.lax.map(lambda block: fn(*block), jax.tree.map(split, args)))
