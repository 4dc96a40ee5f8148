"""Evaluators: plug-ins that summarise the target ranks of a split (`config.eval.evaluators`).

Ranks are computed once per evaluation (`jaxlens.eval.evaluation`); each evaluator reads them
with what it needs about the users, on the host. Every group reports its size in users beside
its metrics, so small groups are read with care.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from jaxlens.data.protocol import Interactions
from jaxlens.eval import metrics
from jaxlens.registry import Registry


@dataclasses.dataclass(frozen=True)
class EvalUsers:
  """What evaluators know about each user of a split, in user order."""

  targets: np.ndarray  # (U,) the target item
  target_train_counts: np.ndarray  # (U,) the target's interactions in training
  history_lengths: np.ndarray  # (U,) items before the target

  @classmethod
  def of(cls, data: Interactions, split: str) -> 'EvalUsers':
    _, targets, history = data.eval_split(split)
    return cls(targets, data.train_item_counts()[targets], np.count_nonzero(history, axis=1))


def _group(ranks: np.ndarray, members: np.ndarray, ks, **extra) -> dict[str, Any]:
  return {**extra, 'users': int(members.sum()), **metrics.means(ranks[members], ks, mrr=True)}


def _by_bins(ranks: np.ndarray, values: np.ndarray, edges: Sequence[int], ks) -> list[dict]:
  """Groups `[edges[i], edges[i+1])`, the last one open."""
  bounds = list(edges) + [None]
  return [_group(ranks, (values >= low) & (values < (np.inf if high is None else high)), ks,
                 group=f'[{low}, {"inf" if high is None else high})', low=low, high=high)
          for low, high in zip(bounds[:-1], bounds[1:])]


def cold(ranks, users: EvalUsers, eval_config) -> dict:
  """Users whose target never occurs in training (cold start)."""
  return _group(ranks, users.target_train_counts == 0, eval_config.ks)


def warm(ranks, users: EvalUsers, eval_config) -> dict:
  return _group(ranks, users.target_train_counts > 0, eval_config.ks)


def popularity(ranks, users: EvalUsers, eval_config) -> list[dict]:
  """By the target's training-interaction count (the paper's Figure 6 groups)."""
  return _by_bins(ranks, users.target_train_counts, eval_config.popularity_bins, eval_config.ks)


def history_length(ranks, users: EvalUsers, eval_config) -> list[dict]:
  return _by_bins(ranks, users.history_lengths, eval_config.history_bins, eval_config.ks)


@dataclasses.dataclass(frozen=True)
class EvaluatorSpec:
  name: str
  fn: Callable[[np.ndarray, EvalUsers, Any], Any]


REGISTRY: Registry[EvaluatorSpec] = Registry('evaluator', 'config.eval.evaluators')
for _spec in (EvaluatorSpec('cold', cold), EvaluatorSpec('warm', warm),
              EvaluatorSpec('popularity', popularity),
              EvaluatorSpec('history_length', history_length)):
  REGISTRY.register(_spec)


def summarise(ranks: np.ndarray, users: EvalUsers, eval_config,
              evaluators: Sequence[str] = ()) -> dict[str, Any]:
  """Overall means (`HR@K`, `NDCG@K`), plus each named evaluator's summary under its name."""
  out: dict[str, Any] = metrics.means(ranks, eval_config.ks)
  for name in evaluators:
    out[name] = REGISTRY.get(name).fn(ranks, users, eval_config)
  return out
