"""AdamW with parameter groups (as the reference's `Code/VideoRec/SASRec/main.py`), optional
global-norm clipping, lr schedules.

Groups by parameter path: `content` (the item tower's content part: a video encoder and its
projection, or a feature projection; its own lr, no weight decay by default) and `recsys`
(everything else; decoupled weight decay). Frozen parameters are not given to the optimizer at
all, so they have no optimizer state.
"""

from __future__ import annotations

import jax
import optax


CONTENT_PREFIX = ('item_tower', 'content')


def _path_names(path) -> tuple:
  return tuple(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', None))) for k in path)


def group_labels(params):
  """'content' or 'recsys' for every leaf of `params`."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: 'content' if _path_names(path)[:2] == CONTENT_PREFIX else 'recsys', params)


def schedule(lr: float, optim_config, total_steps: int) -> optax.Schedule:
  warmup = optim_config.warmup_steps
  if optim_config.schedule == 'constant':
    if not warmup:
      return optax.constant_schedule(lr)
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup])
  return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(total_steps, warmup + 1))


def make_optimizer(optim_config, total_steps: int) -> optax.GradientTransformation:
  groups = {
      'recsys': optax.adamw(schedule(optim_config.lr, optim_config, total_steps),
                            weight_decay=optim_config.weight_decay),
      'content': optax.adamw(schedule(optim_config.content_lr, optim_config, total_steps),
                             weight_decay=optim_config.content_weight_decay),
  }
  grouped = optax.multi_transform(groups, group_labels)
  if not optim_config.clip_norm:  # unclipped, as IDRec (Code/IDRec/*/REC/config/overall.yaml)
    return grouped
  return optax.chain(optax.clip_by_global_norm(optim_config.clip_norm), grouped)
