"""Every user's target ranked among all candidate items, with the protocol's masks.

Candidates are all items except padding, vocabulary padding and the user's history. Unlike the
reference, a target that also occurs in the history stays a candidate (the reference scored it
-inf, a guaranteed miss for every repeat interaction): the target's score is read before the
history is masked, and only other items are compared with it.

Ties count against the target: its rank is 1 + the number of other candidates scoring at least
as high, so constant or collapsed scores rank every target last among its equals rather than
first. A non-finite target score (a diverged user vector) is a miss, and a candidate whose score
is NaN counts as ranked above the target: a number is never better than the truth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def target_ranks(scores: jax.Array, targets: jax.Array, history: jax.Array,
                 num_items: int) -> jax.Array:
  """1-based ranks `(B,)`, `num_items + 1` for a miss.

  scores `(B, V)` over the item table's rows, targets `(B,)`, history `(B, H)` item ids (0 =
  none).
  """
  rows = jnp.arange(scores.shape[0])[:, None]
  target_scores = jnp.take_along_axis(scores, targets[:, None], axis=1)
  vocab = jnp.arange(scores.shape[1])
  candidate = (vocab != 0) & (vocab <= num_items) & (vocab != targets[:, None])
  candidate = candidate.at[rows, history].set(False)
  above = (scores >= target_scores) | jnp.isnan(scores)
  ranks = 1 + jnp.sum(above & candidate, axis=1)
  return jnp.where(jnp.isfinite(target_scores[:, 0]), ranks, num_items + 1).astype(jnp.int32)
