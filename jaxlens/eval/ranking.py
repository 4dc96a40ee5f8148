"""Scoring every item for a batch of users, with the protocol's masks.

Candidates are all items except padding, vocabulary padding and the user's history. Unlike the
reference, a target that also occurs in the history stays a candidate (the reference scored it
-inf, a guaranteed miss for every repeat interaction): the target's score is read before the
history is masked, and only other items are compared with it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxlens.eval import metrics


def user_metrics(user_vectors: jax.Array, table: jax.Array, history: jax.Array,
                 targets: jax.Array, num_items: int, ks) -> dict[str, jax.Array]:
  """Per-user HR@K / NDCG@K, each `(B,)`.

  user_vectors `(B, D)`, table `(V, D)`, history `(B, H)` item ids (0 = none), targets `(B,)`.
  """
  scores = jnp.einsum('bd,vd->bv', user_vectors, table, preferred_element_type=jnp.float32)
  rows = jnp.arange(scores.shape[0])[:, None]
  target_scores = scores[rows[:, 0], targets]
  vocab = jnp.arange(table.shape[0])
  scores = jnp.where((vocab == 0) | (vocab > num_items), -jnp.inf, scores)
  scores = scores.at[rows, history].set(-jnp.inf)
  return metrics.hit_and_ndcg(metrics.rank_of_targets(scores, target_scores), ks)


def ranking_metrics(user_vectors, table, history, targets, weights, num_items: int, ks):
  """Weighted sums of the per-user metrics (weights are 0 on padding users)."""
  per_user = user_metrics(user_vectors, table, history, targets, num_items, ks)
  return {name: jnp.sum(value * weights) for name, value in per_user.items()}
