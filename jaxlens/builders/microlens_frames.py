"""`microlens_frames`: per item of a MicroLens subset, its clip as JPEGs, the cover and metadata
(`jaxlens.builders.items_builder` says what every items dataset holds).

A clip's frames are those the reference's `Data Processing/generate_cover_frames.py` picks
(`jaxlens.builders.frames`). The items are those of the subset's pairs file; titles, likes and
views and categories come from the release's item files; videos and covers from the manual_dir,
the download or the toy files.
"""

import tensorflow_datasets as tfds

from jaxlens.builders import configs as microlens_config
from jaxlens.builders import item_files
from jaxlens.builders.items_builder import ItemSources, ItemsBuilder
from jaxlens.data import pairs


class MicroLensFrames(ItemsBuilder, skip_registration=True):
  """Item frames of MicroLens `toy`, `50k`, `100k` or `1m` (`-crop`: aspect-preserving crop).

  Not in TFDS's registry: `tfds_builders/microlens_frames` registers it for `tfds build`.
  """

  name = 'microlens_frames'

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  BUILDER_CONFIGS = microlens_config.FRAME_CONFIGS
  MANUAL_DOWNLOAD_INSTRUCTIONS = microlens_config.MANUAL_INSTRUCTIONS
  HOMEPAGE = 'https://github.com/westlake-repl/MicroLens'

  def _item_sources(self, dl_manager: tfds.download.DownloadManager) -> ItemSources:
    config = self.builder_config
    files, media = microlens_config.subset_sources(config, dl_manager)
    item_ids = sorted({int(i) for h in pairs.read_pairs(files.pairs) for i in h.items})
    known = set(item_ids)
    metadata, unknown = {}, {}
    for key, path, reader in (('title', files.titles, item_files.read_titles),
                              ('likes_views', files.likes, item_files.read_likes_and_views),
                              ('category', files.categories, item_files.read_categories)):
      metadata[key], unknown[key] = reader(path, known) if path else ({}, 0)
    return ItemSources(item_ids, metadata['title'], metadata['likes_views'], metadata['category'],
                       unknown, media, config.frame_options,
                       work_name=f'{config.name}-{config.fingerprint()}')
