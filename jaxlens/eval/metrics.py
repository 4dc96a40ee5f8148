"""Full-ranking metrics: the target's rank among all candidate items, then HR@K and NDCG@K.

The rank counts candidates scoring strictly higher than the target, so ties resolve in the
target's favour deterministically (the reference's argsort broke them arbitrarily).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def rank_of_targets(candidate_scores: jax.Array, target_scores: jax.Array) -> jax.Array:
  """1-based ranks `(B,)`; non-candidates in `candidate_scores` (B, V) hold -inf."""
  return 1 + jnp.sum(candidate_scores > target_scores[:, None], axis=1)


def hit_and_ndcg(ranks: jax.Array, ks) -> dict[str, jax.Array]:
  """Per-user HR@K and NDCG@K (one target per user, so NDCG@K = 1/log2(rank+1))."""
  out = {}
  for k in ks:
    hit = ranks <= k
    out[f'HR@{k}'] = hit.astype(jnp.float32)
    out[f'NDCG@{k}'] = jnp.where(hit, 1.0 / jnp.log2(ranks + 1.0), 0.0)
  return out
