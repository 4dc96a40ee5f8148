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


def distinct_items(fields: dict[str, np.ndarray], multiple: int, at_least: int = 0,
                   shards: int = 1) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
  """The distinct non-padding items of a global batch's id fields, each id's index among them,
  and a mask of the real entries.

  The list is padded to `at_least` items (a multiple of `multiple`: the run's planned shape), or
  to the next multiple of `multiple` when it holds more (few distinct shapes compile), by
  repeating real items, so the mask (1 distinct, 0 filler) keeps the repeats out of BatchNorm
  statistics. Padding ids point at entry 0; their embeddings are masked by the tower.

  With `shards` (clips on the devices, `clip_table`), the list is `shards` equal segments,
  segment d holding the items `== d (mod shards)`, the shard that holds their clips, each padded
  with repeats of its own items (id d where it has none). `multiple` is a multiple of `shards`.
  """
  flat = np.concatenate([ids.reshape(-1) for ids in fields.values()])
  items, inverse = np.unique(flat, return_inverse=True)
  if items[0] == 0:
    items, inverse = items[1:], np.maximum(inverse - 1, 0)
  owner = items % shards
  order = np.argsort(owner, kind='stable')
  counts = np.bincount(owner, minlength=shards)
  starts = np.cumsum(counts) - counts
  step = multiple // shards
  segment = max(step, at_least // shards, -(-counts.max(initial=0) // step) * step)
  position = np.zeros(max(len(items), 1), np.int64)  # no item: padding ids point at entry 0
  position[order] = owner[order] * segment + np.arange(len(items)) - starts[owner[order]]
  shard, offset = np.divmod(np.arange(shards * segment), segment)
  source = starts[shard] + offset % np.maximum(counts[shard], 1)
  by_shard = np.append(items[order], 0)  # an empty segment's source is one past its items
  padded = np.where(counts[shard] > 0, by_shard[source], shard).astype(items.dtype)
  mask = (offset < counts[shard]).astype(np.float32)
  index, start = {}, 0
  for name, ids in fields.items():
    index[name] = position[inverse[start:start + ids.size]].reshape(ids.shape).astype(np.int32)
    start += ids.size
  return padded, index, mask
