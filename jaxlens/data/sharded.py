"""A built dataset's protocol rows read on demand: each training process holds only what every
process needs (vocabulary, train popularity, counts) and reads the rows of the users in its
slice of each global batch by random access (array_record), never the whole dataset.

Used for the sequence task when a built dataset's protocol split matches the config
(`jaxlens.data.interactions.load`); the in-memory `Interactions` serve everything else. Both
expose `rows(user_indices)` and the same counts, which is all the training pipeline and
evaluation read.
"""

from __future__ import annotations

import numpy as np

from jaxlens.data import protocol, tfds_source


class ShardedInteractions:
  """The protocol output of `tfds_source.ProtocolRows`, without its rows in memory."""

  def __init__(self, source: tfds_source.ProtocolRows):
    self._source = source
    summary = source.summary
    self.max_seq_len = summary.max_seq_len
    self.original_item_ids = summary.original_item_ids
    self.num_users = summary.num_users
    self.num_interactions = summary.num_interactions
    self._train_item_counts = summary.train_item_counts

  @property
  def num_items(self) -> int:
    return len(self.original_item_ids) - 1

  def rows(self, user_indices) -> np.ndarray:
    return self._source.rows(np.asarray(user_indices).tolist())

  def train_item_counts(self) -> np.ndarray:
    return self._train_item_counts

  def log_popularity(self, power: float = 1.0) -> np.ndarray:
    return protocol.log_popularity(self._train_item_counts, power)
