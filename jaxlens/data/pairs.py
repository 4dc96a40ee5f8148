"""Readers for the official MicroLens interaction files.

One parser serves every path into jaxlens: the TFDS builder stores what it returns, and training
from a raw file calls it directly.

- `*_pairs.tsv`: `user<TAB>item item ...`, items in time order, LF or CRLF, no header; one line
  per user (a user on a second line is an error, not a silent merge).
- `*_pairs.csv`: header `user,item,timestamp` (epoch milliseconds); rows in any order.

Files are UTF-8. Ids are integers from 0 to 2**63 - 1; anything else is an error naming the file
and line.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Iterable, Iterator

import numpy as np

from jaxlens.errors import JaxlensError


@dataclasses.dataclass(frozen=True)
class UserHistory:
  """One user's interactions in time order, with the original (dataset) ids."""

  user: str
  items: np.ndarray  # int64, chronological
  timestamps: np.ndarray | None = None  # int64 epoch ms; None when the source has none


_INT64_MAX = 2**63 - 1


def _parse_int(token: str, path: str, line_no: int, what: str, signed: bool = False) -> int:
  try:
    value = int(token)
  except ValueError:
    raise JaxlensError(f'{path}:{line_no}: {what} {token!r} is not an integer id') from None
  if not (-_INT64_MAX - 1 if signed else 0) <= value <= _INT64_MAX:
    kind = 'a 64-bit integer' if signed else 'an id from 0 to 2**63-1'
    raise JaxlensError(f'{path}:{line_no}: {what} {token!r} is not {kind}')
  return value


def parse_tsv(lines: Iterable[str], path: str = '<tsv>') -> Iterator[UserHistory]:
  """Yields one history per non-blank line of a `*_pairs.tsv` file."""
  first_line: dict[str, int] = {}
  for line_no, raw in enumerate(lines, start=1):
    line = raw.rstrip('\r\n')
    if not line.strip():
      continue
    user, sep, items = line.partition('\t')
    if not sep or not user.strip() or not items.strip():
      raise JaxlensError(
          f'{path}:{line_no}: expected "user<TAB>item item ...", got {line[:80]!r}')
    user = user.strip()
    if user in first_line:
      raise JaxlensError(f'{path}:{line_no}: user {user!r} again (first at line '
                         f'{first_line[user]}); a pairs.tsv holds one line per user')
    first_line[user] = line_no
    ids = [_parse_int(tok, path, line_no, 'item') for tok in items.split()]
    yield UserHistory(user, np.asarray(ids, dtype=np.int64))


def parse_csv(lines: Iterable[str], path: str = '<csv>') -> Iterator[UserHistory]:
  """Groups `user,item,timestamp` rows by user (first-appearance order), sorted by time."""
  rows = iter(enumerate(lines, start=1))
  header = next(rows, None)
  if header is None or [c.strip() for c in header[1].rstrip('\r\n').split(',')] != [
      'user', 'item', 'timestamp']:
    raise JaxlensError(f'{path}:1: expected the header "user,item,timestamp"')
  grouped: dict[str, list[tuple[int, int]]] = collections.OrderedDict()
  for line_no, raw in rows:
    line = raw.rstrip('\r\n')
    if not line.strip():
      continue
    fields = line.split(',')
    if len(fields) != 3:
      raise JaxlensError(f'{path}:{line_no}: expected "user,item,timestamp", got {line[:80]!r}')
    user = fields[0].strip()
    item = _parse_int(fields[1].strip(), path, line_no, 'item')
    stamp = _parse_int(fields[2].strip(), path, line_no, 'timestamp', signed=True)
    grouped.setdefault(user, []).append((stamp, item))
  for user, events in grouped.items():
    events.sort(key=lambda e: e[0])  # stable: ties keep file order
    stamps, items = zip(*events)
    yield UserHistory(user, np.asarray(items, np.int64), np.asarray(stamps, np.int64))


def _text_lines(f, path: str) -> Iterator[str]:
  """UTF-8 lines of a binary file; the error names the first line that is not."""
  for line_no, raw in enumerate(f, start=1):
    try:
      yield raw.decode('utf-8')
    except UnicodeDecodeError as e:
      raise JaxlensError(f'{path}:{line_no}: not UTF-8 text (byte 0x{raw[e.start]:02x}); is '
                         'this a pairs file?') from None


def read_pairs(path: str | os.PathLike) -> list[UserHistory]:
  """Reads a `.tsv` or `.csv` pairs file; errors name the file and line."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise JaxlensError(f'{path}: no such pairs file')
  if os.path.isdir(path):
    raise JaxlensError(f'{path}: a folder, not a pairs file')
  parser = {'.tsv': parse_tsv, '.csv': parse_csv}.get(os.path.splitext(path)[1].lower())
  if parser is None:
    raise JaxlensError(f'{path}: a pairs file must end in .tsv or .csv')
  try:
    with open(path, 'rb') as f:
      histories = list(parser(_text_lines(f, path), path))
  except OSError as e:
    raise JaxlensError(f'{path}: cannot be read ({e.strerror})') from None
  if not histories:
    raise JaxlensError(f'{path}: the file holds no interactions')
  return histories
