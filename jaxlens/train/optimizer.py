"""AdamW with parameter groups (reference section 2.3), global-norm clipping, lr schedules.

Groups by parameter path: `video` (the video tower: encoder and projection; its own lr, no weight
decay) and `recsys` (everything else; decoupled weight decay). Frozen parameters are not given to
the optimizer at all, so they have no optimizer state.
"""

from __future__ import annotations

import jax
import optax

from jaxlens.errors import JaxlensError

VIDEO_PREFIX = ('item_tower', 'video')


def _path_names(path) -> tuple:
  return tuple(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', None))) for k in path)


def group_labels(params):
  """'video' or 'recsys' for every leaf of `params`."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: 'video' if _path_names(path)[:2] == VIDEO_PREFIX else 'recsys', params)


def schedule(lr: float, optim_config, total_steps: int) -> optax.Schedule:
  warmup = optim_config.warmup_steps
  if optim_config.schedule == 'constant':
    if not warmup:
      return optax.constant_schedule(lr)
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup])
  if optim_config.schedule == 'cosine':
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(total_steps, warmup + 1))
  raise JaxlensError(f'config.optim.schedule={optim_config.schedule!r}; choose constant or cosine')


def make_optimizer(optim_config, total_steps: int) -> optax.GradientTransformation:
  groups = {
      'recsys': optax.adamw(schedule(optim_config.lr, optim_config, total_steps),
                            weight_decay=optim_config.weight_decay),
      'video': optax.adamw(
          schedule(optim_config.get('video_lr', optim_config.lr), optim_config, total_steps),
          weight_decay=optim_config.get('video_weight_decay', 0.0)),
  }
  return optax.chain(optax.clip_by_global_norm(optim_config.clip_norm),
                     optax.multi_transform(groups, group_labels))
