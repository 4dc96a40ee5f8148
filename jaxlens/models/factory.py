"""Builds the configured recommender; parameters are created sharded on the current mesh."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from jaxlens.errors import JaxlensError
import jaxlens.models.video  # pylint: disable=unused-import  # registers the encoders
from jaxlens.models.id_tower import IdItemTower
from jaxlens.models.video import freezing
from jaxlens.models.video import registry as video_registry
from jaxlens.models.video_tower import VideoItemTower
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
  user_encoder = USER_ENCODERS[model_config.user_encoder](
      model_config.hidden, config.data.max_seq_len, num_blocks=model_config.num_blocks,
      num_heads=model_config.num_heads, dropout=model_config.dropout, rngs=rngs, dtype=dtype)
  if model_config.item_tower == 'id':
    item_tower = IdItemTower(num_items, model_config.hidden, vocab_multiple=vocab_multiple,
                             rngs=rngs, dtype=dtype)
  elif model_config.item_tower == 'video':
    item_tower = _video_tower(config, num_items, rngs=rngs, dtype=dtype)
  else:
    raise JaxlensError(f'config.model.item_tower={model_config.item_tower!r}; choose id or video')
  return SequentialRecommender(item_tower, user_encoder)


def _video_tower(config, num_items: int, *, rngs: nnx.Rngs, dtype) -> VideoItemTower:
  encoder = config.model.encoder
  spec = video_registry.get(encoder.name)
  if encoder.output not in ('head', 'features'):
    raise JaxlensError(f'config.model.encoder.output={encoder.output!r}; choose head or features')
  clip_shape = {'num_frames': config.data.num_frames, 'crop_size': config.data.frame_size}
  tower = VideoItemTower(spec, num_items, output=encoder.output, hidden=config.model.hidden,
                         rngs=rngs, dtype=dtype, remat=encoder.remat,
                         shape_options={k: clip_shape[k] for k in spec.shape_options})
  if encoder.frozen_batch_norm == 'running':
    is_trainable = freezing.trainable_predicate(spec, encoder.train_mode)
    frozen_norm = lambda path, node: (hasattr(node, 'use_running_average')
                                      and not is_trainable(tuple(path)))
    tower.video.encoder = nnx.view(tower.video.encoder, only=frozen_norm,
                                   use_running_average=True, raise_if_not_found=False)
  elif encoder.frozen_batch_norm != 'batch':
    raise JaxlensError(f'config.model.encoder.frozen_batch_norm={encoder.frozen_batch_norm!r}; '
                       'choose batch or running')
  return tower


ENCODER_PATH = ('item_tower', 'video', 'encoder')


def trainable_filter(config):
  """`(path, value) -> bool` over model parameter paths: the encoder's freezing policy."""
  if config.model.item_tower != 'video':
    return lambda path, value: True
  is_trainable = freezing.trainable_predicate(video_registry.get(config.model.encoder.name),
                                              config.model.encoder.train_mode)
  return lambda path, value: (tuple(path[:3]) != ENCODER_PATH or is_trainable(tuple(path[3:])))
