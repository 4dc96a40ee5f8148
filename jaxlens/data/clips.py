"""Host-side clips for the video tower, addressed by protocol item id (1..N).

Small catalogues (the toy subset) are decoded once and held in memory; large ones decode each
batch's JPEG frames on demand, which Grain overlaps with the device step.
"""

from __future__ import annotations

import numpy as np


class ClipStore:
  """`store[ids] -> uint8 (n, T, H, W, 3)` for protocol ids; id 0 gives a blank clip."""

  def __init__(self, frames, original_item_ids: np.ndarray, *, in_memory: bool):
    self._frames = frames  # tfds_source.ItemFrames (or anything with .frames/.load_all)
    self._original = np.asarray(original_item_ids)
    self._cache = None
    first = np.asarray(frames.frames(int(self._original[1])))
    self.clip_shape = first.shape
    if in_memory:
      blank = np.zeros((1,) + first.shape, np.uint8)
      self._cache = np.concatenate([blank, frames.load_all(self._original[1:])])

  def __getitem__(self, ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids)
    if self._cache is not None:
      return self._cache[ids]
    out = np.zeros((len(ids),) + self.clip_shape, np.uint8)
    for row, item in enumerate(ids):
      if item:
        out[row] = self._frames.frames(int(self._original[item]))
    return out


def unique_items(slot_rows: np.ndarray, multiple: int) -> tuple[np.ndarray, np.ndarray]:
  """Distinct non-padding items of a global batch and each slot's index among them.

  The list is padded to a multiple of `multiple` (few distinct shapes compile) by repeating real
  items, so padding entries feed BatchNorm statistics with real clips, not blank ones.
  """
  items, inverse = np.unique(slot_rows, return_inverse=True)
  inverse = inverse.reshape(slot_rows.shape)
  if items[0] == 0:  # padding slots point at entry 0, a real item; their embeddings are masked
    items, inverse = items[1:], np.maximum(inverse - 1, 0)
  size = max(multiple, -(-len(items) // multiple) * multiple)
  padded = np.resize(items, size) if len(items) else np.ones(size, items.dtype)
  return padded, inverse.astype(np.int32)
