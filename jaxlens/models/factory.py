"""Builds the configured recommender from its registered parts."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from jaxlens.errors import JaxlensError
from jaxlens.models import item_towers, user_towers
from jaxlens.models.recommender import Recommender

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def dtype_of(name: str, key: str = 'config.model.dtype'):
  if name not in DTYPES:
    raise JaxlensError(f'{key}={name!r}; choose one of {", ".join(DTYPES)}')
  return DTYPES[name]


def build_model(config, num_items: int, num_users: int, *, vocab_multiple: int, rngs: nnx.Rngs,
                dtype=None) -> Recommender:
  """Parameters with sharding annotations are created on the current mesh (`jax.set_mesh`);
  `dtype` (default `config.model.dtype`) is the compute dtype, parameters stay float32."""
  dtype = dtype or dtype_of(config.model.dtype)
  item_tower = item_towers.REGISTRY.get(config.model.item_tower).build(
      config, num_items, vocab_multiple=vocab_multiple, rngs=rngs, dtype=dtype)
  user_tower = user_towers.REGISTRY.get(config.model.user_tower).build(
      config, num_users, rngs=rngs, dtype=dtype)
  return Recommender(item_tower, user_tower)
