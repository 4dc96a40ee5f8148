"""Factorisation-machine terms of a history, shared by the feature-interaction towers.

Over the fields `[h_1..h_L, c]` (PAD zeroed), the FM's pairwise interactions (Rendle) are
`0.5 * ((sum f)^2 - sum f^2) = fm(h) + sum(h) * c` per dimension: a per-user part and a part
linear in the candidate, which is how NFM and DeepFM rank every item without the whole network
per pair.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def history_terms(history: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(sum(h), fm(h))`, each `(B, D)`, over history `(B, L, D)` with padding masked out."""
  history = history * mask[..., None].astype(history.dtype)
  total = jnp.sum(history, axis=1)
  return total, 0.5 * (jnp.square(total) - jnp.sum(jnp.square(history), axis=1))
