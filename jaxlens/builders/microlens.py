"""`microlens`: each user's chronological item ids, and the MicroLens protocol applied to them.

The splits, the metadata and the two build paths are those of every interactions builder
(`jaxlens.builders.interactions_builder`); this one reads the official pairs file of a subset
(`jaxlens.data.pairs`): `train` holds the original ids, timestamps are epoch ms from a
`pairs.csv`, else positions (metadata `timestamps`). `1m` and `full` are always built with
Apache Beam.
"""

import os

import tensorflow_datasets as tfds

from jaxlens.builders import configs as microlens_config
from jaxlens.builders import sources
from jaxlens.builders.interactions_builder import InteractionsBuilder


class MicroLens(InteractionsBuilder, skip_registration=True):
  """Interactions of MicroLens `toy`, `50k`, `100k`, `1m` or `full`.

  Not in TFDS's registry: `tfds_builders/microlens` registers it for `tfds build`.
  """

  name = 'microlens'

  VERSION = tfds.core.Version('1.1.0')
  RELEASE_NOTES = {
      '1.0.0': 'First release.',
      '1.1.0': 'The `protocol` split and its summary; the full dataset, built with Apache Beam.',
  }
  BUILDER_CONFIGS = microlens_config.INTERACTION_CONFIGS
  MANUAL_DOWNLOAD_INSTRUCTIONS = microlens_config.MANUAL_INSTRUCTIONS
  HOMEPAGE = 'https://github.com/westlake-repl/MicroLens'

  def _local_file(self, download_config: tfds.download.DownloadConfig) -> str | None:
    manual_dir = download_config.manual_dir
    return manual_dir and sources.find_pairs(self.builder_config.release, os.fspath(manual_dir))

  def _interactions_file(self, dl_manager) -> str:
    return microlens_config.subset_sources(self.builder_config, dl_manager)[0].pairs
