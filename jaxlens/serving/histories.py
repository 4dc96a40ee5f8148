"""Who is asked about, and what is known of them when they are.

A request is a set of users of the run's data (by their ids in the source data) or one history
given as item ids. What is known of a data user is their protocol row: by default all of it
(train, valid and test items), so the answer is what comes next; `as_of='valid'` or `'test'`
cuts it where the evaluation does (`jaxlens.data.protocol.split_columns`), so the query, the
seen items and the held-out target are the evaluation's.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from jaxlens.data.protocol import split_columns
from jaxlens.errors import JaxlensError

AS_OF = ('valid', 'test')


@dataclasses.dataclass(frozen=True)
class Queries:
  """What the model reads for each asked user, and which items they have seen."""

  names: list[str]  # the users' ids in the source data ('history' for a given history)
  inputs: np.ndarray  # int32 (n, L): the last L items known, left-padded (protocol ids)
  user_ids: np.ndarray  # int32 (n,): the users' rows (0 for a given history)
  seen: np.ndarray  # int32 (n, H): every item known of the user (0 = none)
  targets: np.ndarray | None = None  # int32 (n,): the held-out item under `as_of`


def _shown(values) -> str:
  values = list(values)
  return ', '.join(map(str, values[:5])) + (', ...' if len(values) > 5 else '')


def user_indices(users, names: list[str], where: str) -> np.ndarray:
  """Rows of the data users `names` (their ids in the source data); unknown ones are one line."""
  index = {name: row for row, name in enumerate(users)}
  missing = [name for name in names if name not in index]
  if missing:
    raise JaxlensError(f'{where}: {len(missing)} unknown user id(s) ({_shown(missing)}); the '
                       f'run knows {len(index):,} users (those the protocol keeps)')
  return np.asarray([index[name] for name in names], np.int64)


def read_user_file(path: str) -> list[str]:
  """One user id per line (blank lines skipped)."""
  if not os.path.isfile(path):
    raise JaxlensError(f'--users_file {path}: no such file')
  with open(path, encoding='utf-8') as f:
    names = [line.strip() for line in f if line.strip()]
  if not names:
    raise JaxlensError(f'--users_file {path}: no user ids in it')
  return names


def of_users(data, rows: np.ndarray, names: list[str], as_of: str | None) -> Queries:
  """The queries of data users at `rows`, knowing everything (`as_of=None`) or cut at a split."""
  sequences = data.rows(rows)
  length = data.max_seq_len
  if as_of is None:
    return Queries(names, sequences[:, -length:], rows.astype(np.int32), sequences)
  inputs, targets, seen = split_columns(sequences, as_of, length)
  return Queries(names, inputs, rows.astype(np.int32), seen, targets)


def of_history(item_rows: np.ndarray, length: int) -> Queries:
  """The query of one history given as table rows (protocol ids and new items'), oldest first."""
  if not len(item_rows):
    raise JaxlensError('--history is empty: give at least one item id')
  inputs = np.zeros((1, length), np.int32)
  last = np.asarray(item_rows[-length:], np.int32)
  inputs[0, length - len(last):] = last
  return Queries(['history'], inputs, np.zeros(1, np.int32),
                 np.asarray(item_rows, np.int32)[None])
