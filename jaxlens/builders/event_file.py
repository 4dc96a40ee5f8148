"""The interactions file a custom dataset is built from: what both build paths read.

`jaxlens build custom` turns the user's table (`interaction_table`) into this one file, and the
`custom` builder reads it with the `microlens` builder's code, in memory or with Apache Beam:
MicroLens's `pairs.csv` layout (`user,item,timestamp`, one interaction per line, in the table's
row order), whose users may hold any text and so are quoted as CSV quotes them. Items are the
dense dataset ids, timestamps int64 (epoch milliseconds, or row numbers when the table had no
time column).
"""

from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
from pyarrow import csv as pa_csv

from jaxlens import paths
from jaxlens.data import pairs
from jaxlens.data.pairs import UserHistory

HEADER = ','.join(pairs.CSV_HEADER)


def row(line: str) -> tuple[str, int, int] | None:
  """(user, item, timestamp) of one line; None for a blank one."""
  if not line:
    return None
  user, item, stamp = next(csv.reader([line]))
  return user, int(item), int(stamp)


class Writer:
  """Appends batches of interactions to the file (local or in a bucket)."""

  def __init__(self, path: str):
    self._file = paths.resolve(path).open('wb')
    self._file.write(f'{HEADER}\n'.encode())
    self._options = pa_csv.WriteOptions(include_header=False, quoting_style='needed')

  def write(self, users: pa.Array, items: np.ndarray, stamps: np.ndarray) -> None:
    batch = pa.record_batch([users, pa.array(items, pa.int64()), pa.array(stamps, pa.int64())],
                            names=list(pairs.CSV_HEADER))
    pa_csv.write_csv(batch, self._file, self._options)

  def close(self) -> None:
    self._file.close()


def read(path: str) -> list[UserHistory]:
  """Every user's history, as `pairs.read_pairs` groups and orders a `pairs.csv`."""
  with paths.resolve(path).open('rb') as f:
    return list(pairs.parse_csv(pairs.text_lines(f, path), path, row=row))
