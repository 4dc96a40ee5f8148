"""Readers for the official per-item files: titles, likes and views, categories.

Each returns `(values by item id, ids not in `known_items`)`: an unknown id is not an error (the
release's files cover more items than a subset uses), it is counted and reported by the build.
A line that cannot be parsed is an error naming the file and line.
"""

from __future__ import annotations

import csv
import os
from typing import Callable, Collection, TypeVar

from jaxlens.errors import JaxlensError

Value = TypeVar('Value')
ANY_ITEM = range(2**63)  # `known_items` that holds every id (O(1) membership)


def _parse_id(token: str, path: str, line_no: int) -> int:
  try:
    return int(token.strip())
  except ValueError:
    raise JaxlensError(
        f'{path}:{line_no}: item id {token.strip()[:40]!r} is not an integer') from None


def _collect(rows, path: str, known_items: Collection[int],
             value: Callable[[list[str], int], Value]) -> tuple[dict[int, Value], int]:
  values, unknown = {}, 0
  for line_no, fields in rows:
    if not fields or not ''.join(fields).strip():
      continue
    item = _parse_id(fields[0], path, line_no)
    if item in known_items:
      values[item] = value(fields, line_no)
    else:
      unknown += 1
  return values, unknown


def _open(path: str):
  if not os.path.isfile(path):
    raise JaxlensError(f'{path}: no such file')
  return open(path, encoding='utf-8', newline='')


def read_titles(path: str, known_items: Collection[int]) -> tuple[dict[int, str], int]:
  """Reads both title formats: 100K `id, title` split on the first comma, no header; 50K a quoted
  CSV with the header `item,title`."""
  with _open(path) as f:
    first = f.readline()
    f.seek(0)
    if first.strip().lower().replace(' ', '') == 'item,title':
      rows = enumerate(csv.reader(f), start=1)
      next(rows)
    else:
      rows = ((n, line.rstrip('\r\n').split(',', 1)) for n, line in enumerate(f, start=1))
    return _collect(rows, path, known_items,
                    lambda fields, _: fields[1].strip() if len(fields) > 1 else '')


def read_likes_and_views(path: str, known_items: Collection[int]
                         ) -> tuple[dict[int, tuple[int, int]], int]:
  """Reads `item<TAB>likes<TAB>views` lines."""

  def likes_views(fields: list[str], line_no: int) -> tuple[int, int]:
    if len(fields) != 3:
      raise JaxlensError(f'{path}:{line_no}: expected "item<TAB>likes<TAB>views"')
    try:
      return int(fields[1]), int(fields[2])
    except ValueError:
      raise JaxlensError(f'{path}:{line_no}: likes and views must be integers') from None

  with _open(path) as f:
    return _collect(((n, line.rstrip('\r\n').split('\t')) for n, line in enumerate(f, start=1)),
                    path, known_items, likes_views)


def read_categories(path: str, known_items: Collection[int]) -> tuple[dict[int, str], int]:
  """Reads `tags_to_summary.csv` (`video_id,category`), with or without its header line."""
  with _open(path) as f:
    rows = enumerate(csv.reader(f), start=1)
    first = next(rows, None)
    if first is not None and first[1] and not first[1][0].strip().isdigit():
      first = None  # the header
    rows_with_first = ([first] if first else []) + list(rows)
    return _collect(rows_with_first, path, known_items,
                    lambda fields, _: fields[1].strip() if len(fields) > 1 else '')
