"""HR@K, NDCG@K and MRR@K from target ranks (one target per user, so NDCG@K = 1/log2(rank+1))."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def per_user(ranks: np.ndarray, ks: Sequence[int], mrr: bool = False) -> dict[str, np.ndarray]:
  """Each user's HR@K, NDCG@K (and MRR@K) as float64 arrays `(U,)`."""
  ranks = np.asarray(ranks, np.float64)
  out = {}
  for k in ks:
    hit = ranks <= k
    out[f'HR@{k}'] = hit.astype(np.float64)
    out[f'NDCG@{k}'] = np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
    if mrr:
      out[f'MRR@{k}'] = np.where(hit, 1.0 / ranks, 0.0)
  return out


def means(ranks: np.ndarray, ks: Sequence[int], mrr: bool = False) -> dict[str, float]:
  """Means over users; empty groups give 0 (their size is reported beside them)."""
  return {name: float(values.mean()) if len(values) else 0.0
          for name, values in per_user(ranks, ks, mrr).items()}


def names(ks: Sequence[int]) -> list[str]:
  """The metrics `means` reports, e.g. for checking `eval.select_metric`."""
  return [f'{m}@{k}' for k in ks for m in ('HR', 'NDCG')]
