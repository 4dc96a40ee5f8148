"""An export loaded for serving with numpy and `jax.export` alone: no jaxlens model code.

  from jaxlens.serving import exported
  served = exported.Export.load('exports/toy')
  queries = served.query(history=served.rows_of(['12', '305']))   # or user_rows=[...]
  scores, items = served.top_k(queries, k=10, exclude=served.rows_of(['12', '305'])[None])

A folder of `jaxlens export` holds `note.json`, which names the current files (so appending items
replaces one file, the note, and a reader never sees half an update):
  items     float32 `(rows, D)`: row r is the vector of item `item_ids[r]` (row 0: padding, zeros)
  item_ids  int64 `(rows,)`: each row's item id in the source data (items added after training
            included)
  query     `jax.export` of the query function: `(items, history (B, L) int32) -> queries` for
            towers that read a history (row ids, left-padded with 0), or `(user_rows (B,) int32)
            -> queries` for towers with a trained vector per user (`users` lists their ids)
  score     `jax.export` of `(queries, items) -> scores (B, rows)`: a dot product for most towers
Both functions are serialized for CPU, CUDA and TPU, with a symbolic batch and table size.
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np

NOTE_FILE = 'note.json'
FORMAT = 1


class ExportError(ValueError):
  """A folder that is not a complete export of this format."""


def read_note(directory: str) -> dict:
  path = os.path.join(directory, NOTE_FILE)
  if not os.path.isfile(path):
    raise ExportError(f'{directory}: not an export ({NOTE_FILE} is missing); write one with '
                      'jaxlens export')
  try:
    with open(path, encoding='utf-8') as f:
      note = json.load(f)
  except (OSError, ValueError) as e:
    raise ExportError(f'{path}: unreadable ({e})') from None
  if note.get('format') != FORMAT:
    raise ExportError(f'{path}: export format {note.get("format")!r}, not {FORMAT}')
  return note


def _load_function(directory: str, name: str) -> jax.export.Exported:
  with open(os.path.join(directory, name), 'rb') as f:
    return jax.export.deserialize(bytearray(f.read()))


@dataclasses.dataclass
class Export:
  directory: str
  note: dict
  items: np.ndarray  # float32 (rows, D)
  item_ids: np.ndarray  # int64 (rows,)
  query_function: jax.export.Exported
  score_function: jax.export.Exported

  @classmethod
  def load(cls, directory: str) -> Export:
    note = read_note(directory)
    files = note['files']
    path = lambda key: os.path.join(directory, files[key])
    return cls(directory, note, np.load(path('items')), np.load(path('item_ids')),
               _load_function(directory, files['query']),
               _load_function(directory, files['score']))

  @property
  def reads_history(self) -> bool:
    return self.note['query']['input'] == 'history'

  @property
  def history_length(self) -> int:
    return self.note['query']['history_length']

  def rows_of(self, item_ids) -> np.ndarray:
    """Table rows of items by their ids in the source data (KeyError for an unknown one)."""
    index = {int(item): row for row, item in enumerate(self.item_ids) if row}
    return np.asarray([index[int(item)] for item in item_ids], np.int32)

  def user_rows(self, user_ids) -> np.ndarray:
    index = {name: row for row, name in enumerate(self.note['users'])}
    return np.asarray([index[str(name)] for name in user_ids], np.int32)

  def query(self, history: np.ndarray | None = None, user_rows: np.ndarray | None = None):
    """Queries of a batch: histories `(B, <=L)` of table rows (oldest first, 0 = none), or the
    rows of trained users."""
    if self.reads_history:
      history = np.asarray(history, np.int32)
      length = self.history_length
      inputs = np.zeros((len(history), length), np.int32)
      kept = history[:, -length:]
      inputs[:, length - kept.shape[1]:] = kept
      return self.query_function.call(self.items, inputs)
    return self.query_function.call(np.asarray(user_rows, np.int32))

  def scores(self, queries) -> np.ndarray:
    """float32 `(B, rows)`: every table row scored; row 0 is padding, not an item."""
    return np.asarray(self.score_function.call(queries, self.items))

  def top_k(self, queries, k: int, exclude: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) `(B, k)` best first among rows 1.., less each user's `exclude` rows; ties
    keep the lower row first, as `jaxlens recommend`."""
    scores = self.scores(queries).astype(np.float32)
    scores[:, 0] = -np.inf
    if exclude is not None:
      np.put_along_axis(scores, np.asarray(exclude, np.int64), -np.inf, axis=1)
      scores[:, 0] = -np.inf
    order = np.argsort(-scores, axis=1, kind='stable')[:, :k]
    return np.take_along_axis(scores, order, axis=1), order.astype(np.int32)
