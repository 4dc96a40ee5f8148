"""An item tower and a sequential user encoder, trained together."""

from __future__ import annotations

import jax
from flax import nnx


class SequentialRecommender(nnx.Module):
  """`item_tower(ids) -> (..., D)` embeddings; `user_encoder(embs, mask) -> (B, L, D)` states."""

  def __init__(self, item_tower: nnx.Module, user_encoder: nnx.Module):
    self.item_tower = item_tower
    self.user_encoder = user_encoder

  def user_states(self, slot_embs: jax.Array, slot_ids: jax.Array) -> jax.Array:
    return self.user_encoder(slot_embs, slot_ids != 0)
