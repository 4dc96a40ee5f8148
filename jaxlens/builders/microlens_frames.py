"""`microlens_frames`: per item, its clip as JPEGs, the cover and metadata.

A clip's frames are those the reference's `Data Processing/generate_cover_frames.py` picks
(`jaxlens.builders.frames`). Clips are extracted in parallel and resumably
(`jaxlens.data.extraction`, shard files in `<download_dir>/microlens_frames_work/`), one shard of
videos on disk at a time. A missing or undecodable video does not stop the build: it is flagged
in `video_status`, counted in the metadata (`video_status_counts`) and reported at the end, as
are title/metadata lines for items the subset does not have (`unknown_item_lines`). Records are
in increasing item id order, whose list is in the metadata (`item_ids`) for random access by id
without a scan.
"""

import collections
import os

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from jaxlens.builders import extraction
from jaxlens.builders import item_files
from jaxlens.builders import configs as microlens_config
from jaxlens.data import pairs
from jaxlens.builders.frames import VideoStatus


def _bytes():
  """Raw bytes (JPEG): a string tensor, which TFDS stores without TensorFlow."""
  return tfds.features.Tensor(shape=(), dtype=np.object_)


class MicroLensFrames(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Item frames of MicroLens `toy`, `50k`, `100k` or `1m` (`-crop`: aspect-preserving crop).

  Not in TFDS's registry: `tfds_builders/microlens_frames` registers it for `tfds build`.
  """

  name = 'microlens_frames'

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  BUILDER_CONFIGS = microlens_config.FRAME_CONFIGS
  MANUAL_DOWNLOAD_INSTRUCTIONS = microlens_config.MANUAL_INSTRUCTIONS

  def __init__(self, *, num_workers: int | None = None, file_format: str | None = None,
               **kwargs):
    """`num_workers`: processes extracting clips (default: one per core)."""
    super().__init__(file_format=file_format or microlens_config.DEFAULT_FILE_FORMAT, **kwargs)
    self._num_workers = num_workers or os.cpu_count() or 1

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'item_id': tfds.features.Scalar(dtype=np.int64),
            'frames': tfds.features.Sequence(_bytes()),  # JPEG, RGB, configured size
            'frame_indices': tfds.features.Tensor(shape=(None,), dtype=np.int64),
            'video_status': tfds.features.Text(),  # a jaxlens.data.frames.VideoStatus value
            'cover': _bytes(),  # original JPEG; empty when absent
            'title': tfds.features.Text(),
            'category': tfds.features.Text(),
            'likes': tfds.features.Scalar(dtype=np.int64),  # -1 when unknown
            'views': tfds.features.Scalar(dtype=np.int64),
        }),
        metadata=tfds.core.MetadataDict(),
        disable_shuffling=True,
        homepage='https://github.com/westlake-repl/MicroLens',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    files, media = microlens_config.subset_sources(config, dl_manager)
    item_ids = sorted({int(i) for h in pairs.read_pairs(files.pairs) for i in h.items})
    known = set(item_ids)
    metadata, unknown = {}, {}
    for key, path, reader in (('title', files.titles, item_files.read_titles),
                              ('likes_views', files.likes, item_files.read_likes_and_views),
                              ('category', files.categories, item_files.read_categories)):
      metadata[key], unknown[key] = reader(path, known) if path else ({}, 0)
    work_dir = os.path.join(os.fspath(dl_manager.download_dir), 'microlens_frames_work',
                            f'{config.name}-{config.fingerprint()}')
    options = config.frame_options
    self.info.metadata.update(
        item_ids=item_ids, unknown_item_lines=unknown, num_frames=options.num_frames,
        height=options.height, width=options.width, resize=options.resize.value)
    clips = extraction.extract_items(item_ids, media, options, work_dir,
                                     self._num_workers)
    return {'train': self._generate_examples(clips, metadata)}

  def _generate_examples(self, clips, metadata):
    counts = collections.Counter()
    for item in clips:
      counts[item.clip.status.value] += 1
      likes, views = metadata['likes_views'].get(item.item_id, (-1, -1))
      yield item.item_id, {
          'item_id': item.item_id,
          'frames': list(item.clip.jpegs),
          'frame_indices': np.asarray(item.clip.indices, np.int64),
          'video_status': item.clip.status.value,
          'cover': item.cover,
          'title': metadata['title'].get(item.item_id, ''),
          'category': metadata['category'].get(item.item_id, ''),
          'likes': likes,
          'views': views,
      }
    self.info.metadata['video_status_counts'] = dict(counts)
    bad = {s: n for s, n in counts.items() if s != VideoStatus.OK.value}
    log = logging.warning if bad else logging.info
    log('microlens_frames/%s: %d items, video status counts %s; lines for unknown items %s',
        self.builder_config.name, sum(counts.values()), dict(counts),
        self.info.metadata['unknown_item_lines'])
