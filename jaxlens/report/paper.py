"""The paper's published numbers, kept as CSV files beside this module (headers name the source).

Values come back as fractions (Table 6 is stored in percent, as published) keyed by the names
the paper prints, in the paper's row order.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources

Metrics = dict[str, float]


def _rows(name: str) -> list[dict[str, str]]:
  text = importlib.resources.files(__package__).joinpath(name).read_text()
  return list(csv.DictReader(line for line in text.splitlines() if not line.startswith('#')))


@functools.cache
def benchmark() -> dict[tuple[str, str], Metrics]:
  """(class, model) -> HR@10, NDCG@10, HR@20, NDCG@20 of the main benchmark table."""
  return {(row.pop('class'), row.pop('model')): {k: float(v) for k, v in row.items()}
          for row in _rows('paper_benchmark.csv')}


@functools.cache
def table6() -> dict[tuple[str, str], Metrics]:
  """(encoder as the paper names it, frozen|topT|FT) -> HR@10, NDCG@10."""
  return {(row['encoder'], row['policy']): {'HR@10': float(row['HR@10_percent']) / 100,
                                            'NDCG@10': float(row['NDCG@10_percent']) / 100}
          for row in _rows('paper_table6.csv')}


@functools.cache
def table8() -> dict[tuple[str, int], Metrics]:
  """(IDRec or the encoder as the paper names it, warm N) -> HR@10, NDCG@10."""
  return {(row['model'], int(row['warm'])): {'HR@10': float(row['HR@10']),
                                             'NDCG@10': float(row['NDCG@10'])}
          for row in _rows('paper_table8.csv')}
