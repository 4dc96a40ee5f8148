"""The records of the `microlens` interactions dataset: one definition for both build paths.

The in-memory path and the Beam path (`beam_interactions`) make every record and the metadata
with these functions, so the two write the same bytes. Both splits have the same features:
- `train`: every user of the file, in file order, with the original ids;
- `protocol`: the users the protocol keeps (`jaxlens.data.protocol.kept_part`), in the same order,
  with their last `max_seq_len + 3` items renumbered 1..N (the vocabulary: the sorted original
  ids of the kept items) and their timestamps.
Timestamps are epoch ms from a `pairs.csv`, else positions in the user's whole history.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from jaxlens.data import pairs
from jaxlens.data import protocol
from jaxlens.data.pairs import UserHistory


def features() -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      'user_id': tfds.features.Text(),
      'item_ids': tfds.features.Tensor(shape=(None,), dtype=np.int64),
      'timestamps': tfds.features.Tensor(shape=(None,), dtype=np.int64),
  })


def timestamp_kind(pairs_path: str) -> str:
  """The metadata's `timestamps`: what the records' timestamps are."""
  return 'epoch_ms' if pairs.has_timestamps(pairs_path) else 'positions'


def with_positions(history: UserHistory) -> UserHistory:
  """A tsv history gets its positions as timestamps, so the protocol keeps the right ones."""
  if history.timestamps is not None:
    return history
  return UserHistory(history.user, history.items, np.arange(len(history.items), dtype=np.int64))


def raw_record(history: UserHistory) -> dict:
  return {'user_id': history.user, 'item_ids': history.items, 'timestamps': history.timestamps}


def protocol_record(kept: UserHistory, vocabulary: np.ndarray) -> dict:
  """`kept` is `kept_part` of a `with_positions` history; `vocabulary` the sorted original ids."""
  return {'user_id': kept.user,
          'item_ids': protocol.renumber(kept.items, vocabulary).astype(np.int64),
          'timestamps': kept.timestamps}
