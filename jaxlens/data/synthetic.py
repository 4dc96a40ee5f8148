"""Synthetic interactions and clips for tests, benchmarks and dry runs: no files needed."""

from __future__ import annotations

import numpy as np

from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import Interactions, apply_protocol


def sequential_interactions(users: int = 48, items: int = 30, seed: int = 0,
                            max_seq_len: int = 6) -> Interactions:
  """Sequences of 5-9 items with a next-item pattern (item i tends to follow i-1)."""
  rng = np.random.default_rng(seed)
  histories = []
  for u in range(users):
    start = rng.integers(1, items + 1)
    length = rng.integers(5, 10)
    seq = (start + np.arange(length) + rng.integers(0, 2, size=length)) % items + 1
    histories.append(UserHistory(f'u{u}', seq.astype(np.int64)))
  return apply_protocol(histories, max_seq_len=max_seq_len)


class RandomFrames:
  """Deterministic uint8 clips per original item id, with the interface of
  `tfds_source.ItemFrames` that `ClipStore` uses."""

  def __init__(self, num_frames: int = 4, size: int = 16):
    self.shape = (num_frames, size, size, 3)

  def frames(self, item_id: int) -> np.ndarray:
    return np.random.default_rng(item_id).integers(0, 256, self.shape, dtype=np.uint8)

  def load_all(self, item_ids) -> np.ndarray:
    return np.stack([self.frames(int(i)) for i in item_ids])
