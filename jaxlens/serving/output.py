"""Recommendations as a file (JSONL, CSV or Parquet, by the `--out` suffix) and as a table.

A file is written under a temporary name beside its target and renamed when complete, so a
reader (or a killed command) never leaves half a file. JSONL holds one line per user
(`{"user", "items": [{"item", "score", "title", "category"}, ...]}`, plus `held_out` under
`--as_of`); CSV and Parquet one row per (user, rank).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from typing import Iterator

import numpy as np

from jaxlens.errors import JaxlensError
from jaxlens.serving.item_info import Catalogue

FORMATS = {'.jsonl': 'jsonl', '.csv': 'csv', '.parquet': 'parquet'}
COLUMNS = ('user', 'rank', 'item', 'score', 'title', 'category')


def format_of(path: str) -> str:
  """The output format of `--out`, from its suffix; checked before any work."""
  suffix = os.path.splitext(path)[1].lower()
  if suffix not in FORMATS:
    raise JaxlensError(f'--out {path}: unknown format; end it in {", ".join(FORMATS)}')
  folder = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(folder):
    raise JaxlensError(f'--out {path}: the folder {folder} does not exist')
  return FORMATS[suffix]


def rows(names: list[str], scores: np.ndarray, table_rows: np.ndarray,
         catalogue: Catalogue) -> Iterator[dict]:
  """One dict per (user, rank) with a candidate (users with fewer than k stop early)."""
  described = {}
  for user, user_scores, user_rows in zip(names, scores, table_rows):
    for rank, (score, row) in enumerate(zip(user_scores, user_rows), start=1):
      if not np.isfinite(score):
        break
      item = int(catalogue.original_ids[row])
      if item not in described:
        described[item] = catalogue.describe(item)
      title, category = described[item]
      yield {'user': user, 'rank': rank, 'item': str(item), 'score': float(score),
             'title': title, 'category': category}


@contextlib.contextmanager
def _atomic(path: str, mode: str = 'w'):
  partial = f'{path}.tmp'
  try:
    with open(partial, mode, **({'encoding': 'utf-8', 'newline': ''} if 'b' not in mode
                                else {})) as f:
      yield f
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)


def write(path: str, records: list[dict], held_out: dict[str, str] | None = None) -> None:
  """Writes `records` (from `rows`) to `path` in its suffix's format; `held_out`: user -> the
  item held out under `--as_of`."""
  kind = format_of(path)
  if kind == 'jsonl':
    by_user: dict[str, list] = {}
    for record in records:
      by_user.setdefault(record['user'], []).append(
          {key: record[key] for key in ('item', 'score', 'title', 'category')})
    with _atomic(path) as f:
      for user, items in by_user.items():
        line = {'user': user, **({'held_out': held_out[user]} if held_out else {}),
                'items': items}
        f.write(json.dumps(line, ensure_ascii=False) + '\n')
    return
  columns = COLUMNS + (('held_out',) if held_out else ())
  table = [{**record, **({'held_out': held_out[record['user']]} if held_out else {})}
           for record in records]
  if kind == 'csv':
    with _atomic(path) as f:
      writer = csv.DictWriter(f, fieldnames=columns)
      writer.writeheader()
      writer.writerows(table)
    return
  import pyarrow  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet  # pylint: disable=g-import-not-at-top
  arrays = {name: [record[name] for record in table] for name in columns}
  with _atomic(path, 'wb') as f:
    pyarrow.parquet.write_table(pyarrow.table(arrays), f)


def terminal_table(records: list[dict], held_out: dict[str, str] | None = None) -> str:
  """The recommendations of a few users as aligned text, one block per user."""
  lines, user = [], None
  width = max([len(r['item']) for r in records] + [4])
  for record in records:
    if record['user'] != user:
      user = record['user']
      lines.append(f'user {user}' + (f' (held out: {held_out[user]})' if held_out else ''))
    text = ' / '.join(part for part in (record['title'], record['category']) if part)
    lines.append(f'  {record["rank"]:>3}  {record["item"]:>{width}}  {record["score"]:9.4f}'
                 + (f'  {text[:70]}' if text else ''))
  return '\n'.join(lines)
