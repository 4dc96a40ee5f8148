"""The most-popular baseline: every user gets the items ranked by training count.

Uses the same masks, tie rule and evaluators as model evaluation, so its figures compare
directly.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np

from jaxlens.data.protocol import Interactions
from jaxlens.eval import evaluators, ranking


def most_popular(data: Interactions, split: str, eval_config,
                 evaluator_names: Sequence[str] = ('cold',), batch_size: int = 1024
                 ) -> dict[str, Any]:
  _, targets, history = data.eval_split(split)
  counts = jnp.asarray(data.train_item_counts(), jnp.float32)
  ranks = np.concatenate([
      np.asarray(ranking.target_ranks(
          jnp.broadcast_to(counts, (len(targets[rows]), len(counts))),
          jnp.asarray(targets[rows]), jnp.asarray(history[rows]), data.num_items))
      for rows in (slice(s, s + batch_size) for s in range(0, len(targets), batch_size))])
  return evaluators.summarise(ranks, evaluators.EvalUsers.of(data, split), eval_config,
                              evaluator_names)
