"""Where training gets its interactions: a raw pairs file, or a built TFDS dataset."""

from __future__ import annotations

from jaxlens.data import pairs
from jaxlens.data.clips import ClipStore
from jaxlens.data.protocol import Interactions, apply_protocol


def load(data_config, rows_by_user: bool = False):
  """`data.pairs_path` when set, else the TFDS dataset `data.name` in `data.dir`.

  With `rows_by_user` (training that reads whole users: the sequence task), a built dataset
  whose protocol split was built with the configured protocol is read user by user on demand
  (`ShardedInteractions`: each process reads the users of its slice only); otherwise the
  protocol runs in memory on every interaction (pairs files, warm-N, other protocols).
  """
  if data_config.pairs_path:
    histories = pairs.read_pairs(data_config.pairs_path)
  else:
    from jaxlens.data import sharded, tfds_source  # pylint: disable=g-import-not-at-top
    if rows_by_user and not data_config.min_item_interactions:
      source = tfds_source.protocol_rows_if_built(
          data_config.name, data_config.dir or None, data_config.max_seq_len,
          data_config.min_seq_len)
      if source is not None:
        return sharded.ShardedInteractions(source)
    histories = tfds_source.load_interactions(data_config.name, data_config.dir or None)
  return apply_protocol(histories, data_config.max_seq_len, data_config.min_seq_len,
                        data_config.min_item_interactions)


def clip_store(data_config, data: Interactions) -> ClipStore:
  """The frames of the dataset's items (built by the TFDS items builder), by protocol id."""
  from jaxlens.data import tfds_source  # pylint: disable=g-import-not-at-top
  frames = tfds_source.ItemFrames(data_config.name, data_config.dir or None,
                                  num_frames=data_config.num_frames,
                                  size=(data_config.frame_size, data_config.frame_size))
  return ClipStore(frames, data.original_item_ids, in_memory=data_config.clips_in_memory)
