"""Where training gets its interactions: a raw pairs file, or a built TFDS dataset."""

from __future__ import annotations

from jaxlens.data import pairs
from jaxlens.data.protocol import Interactions, apply_protocol


def load(data_config) -> Interactions:
  """`data.pairs_path` when set, else the TFDS dataset `data.name` in `data.dir`."""
  if data_config.pairs_path:
    histories = pairs.read_pairs(data_config.pairs_path)
  else:
    from jaxlens.data import tfds_source  # pylint: disable=g-import-not-at-top
    tfds_source.ensure_built(data_config.name, data_config.dir or None)
    histories = tfds_source.load_interactions(data_config.name, data_config.dir or None)
  return apply_protocol(histories, data_config.max_seq_len, data_config.min_seq_len)
