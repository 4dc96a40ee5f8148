"""Item-feature tables on disk: one frozen vector per item, from `jaxlens extract`.

A table folder holds
  features.npy    float32 `(N, F)`; row r belongs to the item `item_ids[r]` of the note
  features.json   the note: `modality` (video, cover, title), how the vectors were made (encoder,
                  weights, clip geometry, dtype; or the text method and its sources), `dim`,
                  `count`, `item_ids` (original dataset ids, so one table serves any protocol
                  renumbering or warm-N filter) and `fingerprint` (sha256 of the vectors)
The note is written last, so a folder with a note holds a complete table. Reading needs numpy
only (no TensorFlow, no model code), from a local folder or a bucket (`gs://`, `jaxlens.paths`).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from jaxlens import paths
from jaxlens.errors import JaxlensError

TABLE_FILE = 'features.npy'
NOTE_FILE = 'features.json'
MODALITIES = ('video', 'cover', 'title')


DERIVED_KEYS = ('dim', 'count', 'rows', 'fingerprint', 'item_ids')  # what `write_note` adds


def settings_of(note: dict[str, Any]) -> dict[str, Any]:
  """What made a table: its note less what the writer derived from the rows."""
  return {key: value for key, value in note.items() if key not in DERIVED_KEYS}


def fingerprint(features: np.ndarray) -> str:
  return hashlib.sha256(np.ascontiguousarray(features, np.float32).tobytes()).hexdigest()


def write(directory: str, features: np.ndarray, item_ids: np.ndarray,
          note: dict[str, Any]) -> dict[str, Any]:
  """Writes the table, then its note; returns the full note."""
  os.makedirs(directory, exist_ok=True)
  table = os.path.join(directory, TABLE_FILE)
  with open(table + '.tmp', 'wb') as f:
    np.save(f, np.asarray(features, np.float32))
  os.replace(table + '.tmp', table)
  return write_note(directory, item_ids, note)


def write_note(directory: str, item_ids: np.ndarray, note: dict[str, Any]) -> dict[str, Any]:
  """Completes the table in `directory` (written in place) with its note, atomically."""
  features = np.load(os.path.join(directory, TABLE_FILE), mmap_mode='r')
  item_ids = np.asarray(item_ids, np.int64)
  if features.ndim != 2 or features.dtype != np.float32 or len(features) != len(item_ids):
    raise ValueError(f'features {features.shape} {features.dtype} do not match '
                     f'{len(item_ids)} item ids')
  if note.get('modality') not in MODALITIES:
    raise ValueError(f'note modality {note.get("modality")!r} is not one of {MODALITIES}')
  full = {**note, 'dim': int(features.shape[1]), 'count': len(item_ids),
          'rows': 'row r of features.npy belongs to original item id item_ids[r]',
          'fingerprint': fingerprint(features), 'item_ids': item_ids.tolist()}
  paths.write_json(os.path.join(directory, NOTE_FILE), full)
  return full


def is_complete(directory: str) -> bool:
  """Whether `directory` holds a finished table (its note)."""
  return (paths.resolve(directory) / NOTE_FILE).exists()


def read_note(directory: str) -> dict[str, Any]:
  """The note of a complete table; a folder without one is a one-line error."""
  if not is_complete(directory):
    raise JaxlensError(f'{directory}: no item-feature table ({NOTE_FILE} is missing); write one '
                       'with jaxlens extract, or rerun its command to finish it')
  path = paths.resolve(directory) / NOTE_FILE
  try:
    return paths.read_json(path)
  except (OSError, ValueError) as e:
    raise JaxlensError(f'{path}: unreadable ({e})') from None


def rows_for(note: dict[str, Any], original_item_ids: np.ndarray, where: str) -> np.ndarray:
  """The table row of each of `original_item_ids`; items the table lacks are one error line."""
  table_ids = np.asarray(note['item_ids'], np.int64)
  order = np.argsort(table_ids)
  wanted = np.asarray(original_item_ids, np.int64)
  found = np.searchsorted(table_ids, wanted, sorter=order).clip(max=len(table_ids) - 1)
  rows = order[found]
  missing = wanted[table_ids[rows] != wanted]
  if len(missing):
    shown = ', '.join(str(i) for i in missing[:5]) + (', ...' if len(missing) > 5 else '')
    raise JaxlensError(f'{where} lacks {len(missing):,} of the dataset\'s {len(wanted):,} items '
                       f'(ids {shown}); extract features for this dataset')
  return rows


def load_rows(directory: str, original_item_ids: np.ndarray) -> np.ndarray:
  """float32 `(len(original_item_ids), F)`: the vectors of those items, in that order."""
  note = read_note(directory)
  rows = rows_for(note, original_item_ids, directory)
  path = paths.resolve(directory) / TABLE_FILE
  if paths.is_local(path):
    return np.asarray(np.load(path, mmap_mode='r')[rows], np.float32)
  with path.open('rb') as f:
    return np.asarray(np.load(f)[rows], np.float32)
