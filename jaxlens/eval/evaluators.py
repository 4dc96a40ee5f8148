"""Evaluators: plug-ins that summarise the target ranks of a split (`config.eval.evaluators`).

Ranks are computed once per evaluation (`jaxlens.eval.evaluation`); each evaluator reads them
with what it needs about the users, on the host. Every group reports its size in users beside
its metrics, so small groups are read with care.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from jaxlens import config_values
from jaxlens.data.protocol import Interactions
from jaxlens.eval import metrics
from jaxlens.registry import Part, Registry


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
  return _by_bins(ranks, users.target_train_counts, eval_config.popularity.bins, eval_config.ks)


def history_length(ranks, users: EvalUsers, eval_config) -> list[dict]:
  return _by_bins(ranks, users.history_lengths, eval_config.history_length.bins, eval_config.ks)


@dataclasses.dataclass(frozen=True)
class EvaluatorSpec(Part):
  """An evaluator's registration; its own config keys live under `config.eval.<name>`."""

  fn: Callable[[np.ndarray, EvalUsers, Any], Any] = dataclasses.field(kw_only=True)


def _bins(name: str):
  return lambda config: config_values.integers(config, f'eval.{name}.bins', 0, increasing=True)


REGISTRY: Registry[EvaluatorSpec] = Registry('evaluator', 'config.eval.evaluators', 'eval')
REGISTRY.register(EvaluatorSpec('cold', fn=cold))
REGISTRY.register(EvaluatorSpec('warm', fn=warm))
REGISTRY.register(EvaluatorSpec(
    'popularity', fn=popularity, check=_bins('popularity'), resumable=('bins',),
    config={'bins': (0, 1, 3, 10, 30, 100, 300, 1000)},  # the target's train count
    renamed={'eval.popularity_bins': 'bins'}))
REGISTRY.register(EvaluatorSpec(
    'history_length', fn=history_length, check=_bins('history_length'), resumable=('bins',),
    config={'bins': (0, 4, 6, 8, 10, 12)},  # items before the target
    renamed={'eval.history_bins': 'bins'}))


def summarise(ranks: np.ndarray, users: EvalUsers, eval_config,
              evaluators: Sequence[str] = ()) -> dict[str, Any]:
  """Overall means (`HR@K`, `NDCG@K`), plus each named evaluator's summary under its name."""
  out: dict[str, Any] = metrics.means(ranks, eval_config.ks)
  for name in evaluators:
    out[name] = REGISTRY.get(name).fn(ranks, users, eval_config)
  return out
