"""Readers for the official MicroLens interaction files.

One parser serves every path into jaxlens: the TFDS builder stores what it returns, and training
from a raw file calls it directly. The Beam build (`jaxlens.builders.beam_interactions`) parses
with the same line functions and orders events by the same rule.

- `*_pairs.tsv`: `user<TAB>item item ...`, items in time order, LF or CRLF, no header; one line
  per user (a user on a second line is an error, not a silent merge).
- `*_pairs.csv`: header `user,item,timestamp` (epoch milliseconds); rows in any order. A user's
  events are ordered by timestamp; events with equal timestamps keep their file order.
- Users are in the order of their first line in the file.

Files are UTF-8. Ids are integers from 0 to 2**63 - 1; anything else is an error naming the file
and line.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from jaxlens import paths
from jaxlens.errors import JaxlensError

CSV_HEADER = ('user', 'item', 'timestamp')


@dataclasses.dataclass(frozen=True)
class UserHistory:
  """One user's interactions in time order, with the original (dataset) ids."""

  user: str
  items: np.ndarray  # int64, chronological
  timestamps: np.ndarray | None = None  # int64 epoch ms; None when the source has none


class LineError(ValueError):
  """A malformed line; whoever knows the file and line number names them."""


_INT64_MAX = 2**63 - 1


def _parse_int(token: str, what: str, signed: bool = False) -> int:
  try:
    value = int(token)
  except ValueError:
    raise LineError(f'{what} {token!r} is not an integer id') from None
  if not (-_INT64_MAX - 1 if signed else 0) <= value <= _INT64_MAX:
    kind = 'a 64-bit integer' if signed else 'an id from 0 to 2**63-1'
    raise LineError(f'{what} {token!r} is not {kind}')
  return value


def decode_line(raw: bytes) -> str:
  """A UTF-8 line without its line break."""
  try:
    return raw.decode('utf-8').rstrip('\r\n')
  except UnicodeDecodeError as e:
    raise LineError(f'not UTF-8 text (byte 0x{raw[e.start]:02x}); is this a pairs file?'
                    ) from None


def tsv_line(line: str) -> tuple[str, np.ndarray] | None:
  """(user, items) of a `*_pairs.tsv` line; None for a blank line."""
  if not line.strip():
    return None
  user, sep, items = line.partition('\t')
  if not sep or not user.strip() or not items.strip():
    raise LineError(f'expected "user<TAB>item item ...", got {line[:80]!r}')
  return user.strip(), np.asarray([_parse_int(t, 'item') for t in items.split()], np.int64)


def repeated_user(user: str, first_line: int) -> str:
  return (f'user {user!r} again (first at line {first_line}); a pairs.tsv holds one line per '
          'user')


def is_csv_header(line: str) -> bool:
  return tuple(c.strip() for c in line.split(',')) == CSV_HEADER


def missing_header(path: str) -> JaxlensError:
  return JaxlensError(f'{path}:1: expected the header "{",".join(CSV_HEADER)}"')


def csv_row(line: str) -> tuple[str, int, int] | None:
  """(user, item, timestamp) of a `*_pairs.csv` row; None for a blank line."""
  if not line.strip():
    return None
  fields = line.split(',')
  if len(fields) != 3:
    raise LineError(f'expected "user,item,timestamp", got {line[:80]!r}')
  return (fields[0].strip(), _parse_int(fields[1].strip(), 'item'),
          _parse_int(fields[2].strip(), 'timestamp', signed=True))


def in_time_order(user: str, events: Sequence[tuple[int, int, int]]) -> UserHistory:
  """A csv user's history from (timestamp, file position, item) events, in any order."""
  stamps, _, items = zip(*sorted(events))  # ties in time: the earlier line first
  return UserHistory(user, np.asarray(items, np.int64), np.asarray(stamps, np.int64))


def has_timestamps(path: str) -> bool:
  """A `.csv` gives epoch milliseconds; a `.tsv` only the order."""
  return os.path.splitext(path)[1].lower() == '.csv'


def parse_tsv(lines: Iterable[str], path: str = '<tsv>') -> Iterator[UserHistory]:
  """Yields one history per non-blank line of a `*_pairs.tsv` file."""
  first_line: dict[str, int] = {}
  for line_no, line in enumerate(lines, start=1):
    try:
      parsed = tsv_line(line)
      if parsed is None:
        continue
      user, items = parsed
      if user in first_line:
        raise LineError(repeated_user(user, first_line[user]))
    except LineError as e:
      raise JaxlensError(f'{path}:{line_no}: {e}') from None
    first_line[user] = line_no
    yield UserHistory(user, items)


def parse_csv(lines: Iterable[str], path: str = '<csv>',
              row: Callable[[str], tuple[str, int, int] | None] = csv_row
              ) -> Iterator[UserHistory]:
  """Groups `user,item,timestamp` rows by user (first-appearance order), sorted by time; `row`
  parses a line (the custom builder's own interactions file quotes its users)."""
  rows = iter(enumerate(lines, start=1))
  header = next(rows, None)
  if header is None or not is_csv_header(header[1]):
    raise missing_header(path)
  grouped: dict[str, list[tuple[int, int, int]]] = collections.OrderedDict()
  for line_no, line in rows:
    try:
      parsed = row(line)
    except LineError as e:
      raise JaxlensError(f'{path}:{line_no}: {e}') from None
    if parsed is not None:
      user, item, stamp = parsed
      grouped.setdefault(user, []).append((stamp, line_no, item))
  for user, events in grouped.items():
    yield in_time_order(user, events)


def text_lines(f, path: str) -> Iterator[str]:
  """Decoded lines of a binary file; the error names the first line that is not UTF-8."""
  for line_no, raw in enumerate(f, start=1):
    try:
      yield decode_line(raw)
    except LineError as e:
      raise JaxlensError(f'{path}:{line_no}: {e}') from None


def read_pairs(path: str | os.PathLike) -> list[UserHistory]:
  """Reads a `.tsv` or `.csv` pairs file; errors name the file and line."""
  path = os.fspath(path)
  file = paths.resolve(path)
  if not file.exists():
    raise JaxlensError(f'{path}: no such pairs file')
  if file.is_dir():
    raise JaxlensError(f'{path}: a folder, not a pairs file')
  parser = {'.tsv': parse_tsv, '.csv': parse_csv}.get(os.path.splitext(path)[1].lower())
  if parser is None:
    raise JaxlensError(f'{path}: a pairs file must end in .tsv or .csv')
  try:
    with file.open('rb') as f:
      histories = list(parser(text_lines(f, path), path))
  except OSError as e:
    raise JaxlensError(f'{path}: cannot be read ({e.strerror})') from None
  if not histories:
    raise JaxlensError(f'{path}: the file holds no interactions')
  return histories
