"""A feature table filled chunk by chunk, resumable after a kill at any moment.

The rows go straight into `DIR/features.npy` (a memory map); after each chunk's rows are flushed,
`DIR/progress.json` records how many chunks are done and what settings they were made with. A
kill therefore loses at most the chunk in flight, which the next run recomputes; since every
chunk is computed the same way, the finished table equals an uninterrupted run's. The note
(`features.json`, `jaxlens.data.item_features`) is written last and marks the table complete.
Only the main process (JAX process 0) writes; the others read the progress to skip as far.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from jaxlens.data import item_features
from jaxlens.errors import JaxlensError

PROGRESS_FILE = 'progress.json'


def _digest(item_ids) -> str:
  return hashlib.sha256(np.asarray(item_ids, np.int64).tobytes()).hexdigest()


def _differences(saved: dict, wanted: dict) -> str:
  keys = sorted(key for key in saved.keys() | wanted.keys() if saved.get(key) != wanted.get(key))
  return ', '.join(f'{key} ({saved.get(key)!r} -> {wanted.get(key)!r})' for key in keys)


class PartialTable:
  """`(len(item_ids), dim)` float32 rows in chunks of `chunk` items, under `directory`.

  `settings` (JSON-serialisable, with the table's `modality`) is what makes the rows and becomes
  the note; a folder started with other settings or items is an error, never mixed.
  """

  def __init__(self, directory: str, item_ids: np.ndarray, dim: int, chunk: int,
               settings: dict[str, Any], *, is_main: bool):
    self.directory, self.item_ids, self.chunk = directory, np.asarray(item_ids), chunk
    self.settings = {**settings, 'chunk': chunk}
    self.num_chunks = -(-len(item_ids) // chunk)
    self._is_main = is_main
    self._progress_path = os.path.join(directory, PROGRESS_FILE)
    self._table_path = os.path.join(directory, item_features.TABLE_FILE)
    self.done = self._resume_point()
    self._rows = None
    if is_main and self.done < self.num_chunks:
      os.makedirs(directory, exist_ok=True)
      self._rows = (np.load(self._table_path, mmap_mode='r+') if self.done else
                    np.lib.format.open_memmap(self._table_path, mode='w+', dtype=np.float32,
                                              shape=(len(item_ids), dim)))

  def _refuse_other(self, saved: dict, items_digest: str, what: str) -> None:
    wanted = {**self.settings, 'items': _digest(self.item_ids)}
    saved = {**saved, 'items': items_digest}
    if saved != wanted:
      raise JaxlensError(f'{self.directory} holds {what} table of other settings: '
                         f'{_differences(saved, wanted)}; choose another folder')

  def _resume_point(self) -> int:
    """Chunks already done: all for a complete table of these settings, else the progress
    file's count."""
    if item_features.is_complete(self.directory):
      note = item_features.read_note(self.directory)
      self._refuse_other(item_features.settings_of(note), _digest(note['item_ids']), 'a finished')
      return self.num_chunks
    if not os.path.isfile(self._progress_path):
      return 0
    with open(self._progress_path, encoding='utf-8') as f:
      progress = json.load(f)
    self._refuse_other(progress['settings'], progress['items'], 'an unfinished')
    return progress['chunks']

  def commit(self, index: int, rows: np.ndarray) -> None:
    """Chunk `index`'s rows (the last chunk may carry filler rows past the end, dropped)."""
    if index != self.done:
      raise ValueError(f'chunk {index} committed after {self.done} done chunks')
    self.done += 1
    if not self._is_main:
      return
    start = index * self.chunk
    stop = min(start + self.chunk, len(self.item_ids))
    self._rows[start:stop] = rows[:stop - start]
    self._rows.flush()
    with open(self._progress_path + '.tmp', 'w', encoding='utf-8') as f:
      json.dump({'settings': self.settings, 'items': _digest(self.item_ids),
                 'chunks': self.done}, f)
    os.replace(self._progress_path + '.tmp', self._progress_path)

  def finish(self) -> None:
    """Marks a fully committed table complete with its note (nothing to do when it already was,
    or on other processes than the main one)."""
    if self.done != self.num_chunks:
      raise ValueError(f'{self.done} of {self.num_chunks} chunks done')
    if self._rows is None:
      return
    self._rows.flush()
    self._rows = None
    item_features.write_note(self.directory, self.item_ids, self.settings)
    os.remove(self._progress_path)
