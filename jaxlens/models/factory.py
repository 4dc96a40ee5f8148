"""Builds the configured recommender from its registered parts."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.models import item_towers, user_towers
from jaxlens.models.recommender import Recommender
from jaxlens.sharding import Layout

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def dtype_of(name: str, key: str = 'config.model.dtype'):
  if name not in DTYPES:
    raise JaxlensError(f'{key}={name!r}; choose one of {", ".join(DTYPES)}')
  return DTYPES[name]


def build_model(config, data: Interactions, *, layout: Layout, rngs: nnx.Rngs,
                dtype=None) -> Recommender:
  """Parameters with sharding annotations are created on `layout`'s mesh, which must be the
  current one (`jax.set_mesh`); towers read what they need of `data` (counts, a graph's edges).
  `dtype` (default `config.model.dtype`) is the compute dtype, parameters stay float32."""
  dtype = dtype or dtype_of(config.model.dtype)
  item_tower = item_towers.REGISTRY.get(config.model.item_tower).build(
      config, data, layout=layout, rngs=rngs, dtype=dtype)
  user_spec = user_towers.REGISTRY.get(config.model.user_tower)
  user_tower = user_spec.build(config, data, layout=layout, rngs=rngs, dtype=dtype)
  return Recommender(item_tower, user_tower, propagates=user_spec.needs_item_table)
