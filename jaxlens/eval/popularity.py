"""The most-popular baseline: every user gets the items ranked by training count.

Uses the same masks and rank definition as model evaluation, so its figures compare directly.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxlens.data.protocol import Interactions
from jaxlens.eval import ranking


def most_popular(data: Interactions, split: str, ks=(10, 20), batch_size: int = 1024):
  """Mean HR@K / NDCG@K over all users and, under 'cold', over cold-target users."""
  _, targets, history = data.eval_split(split)
  counts = data.train_item_counts().astype(np.float32)
  cold = counts[targets] == 0
  table = jnp.asarray(counts[:, None])
  sums = {'all': {}, 'cold': {}}
  for start in range(0, len(targets), batch_size):
    rows = slice(start, start + batch_size)
    per_user = ranking.user_metrics(jnp.ones((len(targets[rows]), 1)), table,
                                    jnp.asarray(history[rows]), jnp.asarray(targets[rows]),
                                    data.num_items, ks)
    for name, value in per_user.items():
      value = np.asarray(value)
      sums['all'][name] = sums['all'].get(name, 0.0) + value.sum()
      sums['cold'][name] = sums['cold'].get(name, 0.0) + value[cold[rows]].sum()
  out = {name: value / len(targets) for name, value in sums['all'].items()}
  out['cold'] = {name: value / max(cold.sum(), 1) for name, value in sums['cold'].items()}
  return out
