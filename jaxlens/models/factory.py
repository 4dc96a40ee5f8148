"""Builds the configured recommender; parameters are created sharded on the current mesh."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from jaxlens.errors import JaxlensError
from jaxlens.models.id_tower import IdItemTower
from jaxlens.models.recommender import SequentialRecommender
from jaxlens.models.recommenders import USER_ENCODERS

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def compute_dtype(model_config):
  if model_config.dtype not in DTYPES:
    raise JaxlensError(f'config.model.dtype={model_config.dtype!r}; choose one of '
                       f'{", ".join(DTYPES)}')
  return DTYPES[model_config.dtype]


def build_model(config, num_items: int, *, vocab_multiple: int,
                rngs: nnx.Rngs) -> SequentialRecommender:
  model_config = config.model
  dtype = compute_dtype(model_config)
  if model_config.user_encoder not in USER_ENCODERS:
    raise JaxlensError(f'config.model.user_encoder={model_config.user_encoder!r}; choose one of '
                       f'{", ".join(USER_ENCODERS)}')
  if model_config.item_tower != 'id':
    raise JaxlensError(f'config.model.item_tower={model_config.item_tower!r}; choose id')
  user_encoder = USER_ENCODERS[model_config.user_encoder](
      model_config.hidden, config.data.max_seq_len, num_blocks=model_config.num_blocks,
      num_heads=model_config.num_heads, dropout=model_config.dropout, rngs=rngs, dtype=dtype)
  item_tower = IdItemTower(num_items, model_config.hidden, vocab_multiple=vocab_multiple,
                           rngs=rngs, dtype=dtype)
  return SequentialRecommender(item_tower, user_encoder)
