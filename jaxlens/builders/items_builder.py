"""What the items builders share (`microlens_frames`, `custom_frames`): per item, its clip as
JPEGs (the frames `jaxlens.builders.frames` picks), the cover and metadata.

Clips are extracted in parallel and resumably (`jaxlens.builders.extraction`, shard files in
`<download_dir>/<builder>_work/`), one shard of videos on disk at a time. A missing or
undecodable video does not stop the build: it is flagged in `video_status`, counted in the
metadata (`video_status_counts`) and reported at the end, as are metadata lines for items the
dataset does not have (`unknown_item_lines`). Records are in increasing item id order, whose
list is in the metadata (`item_ids`) for random access by id without a scan.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Any

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from jaxlens.builders import extraction
from jaxlens.builders.frames import FrameOptions, VideoStatus
from jaxlens.builders.interactions_builder import DEFAULT_FILE_FORMAT
from jaxlens.builders.sources import MediaSource


def _bytes():
  """Raw bytes (JPEG): a string tensor, which TFDS stores without TensorFlow."""
  return tfds.features.Tensor(shape=(), dtype=np.object_)


@dataclasses.dataclass(frozen=True)
class ItemSources:
  """Everything an items dataset is made of, by item id."""

  item_ids: list[int]  # increasing
  titles: dict[int, str]
  likes_views: dict[int, tuple[int, int]]
  categories: dict[int, str]
  unknown_item_lines: dict[str, int]  # per metadata source: lines naming items not in the data
  media: MediaSource
  frame_options: FrameOptions
  work_name: str  # names the extraction work folder; a changed source must change it
  metadata: dict[str, Any] = dataclasses.field(default_factory=dict)  # more, for this dataset


class ItemsBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Items of a dataset: what `_item_sources` gives, made into records."""

  HOMEPAGE: str | None = None

  def __init__(self, *, num_workers: int | None = None, file_format: str | None = None,
               **kwargs):
    """`num_workers`: processes extracting clips (default: one per core)."""
    super().__init__(file_format=file_format or DEFAULT_FILE_FORMAT, **kwargs)
    self._num_workers = num_workers or os.cpu_count() or 1
    self.items_by_status: dict[str, list[int]] = {}  # items whose video is not `ok`, once built
    self.items_without_cover: list[int] = []

  def _item_sources(self, dl_manager: tfds.download.DownloadManager) -> ItemSources:
    raise NotImplementedError

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
        homepage=self.HOMEPAGE,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    items = self._item_sources(dl_manager)
    work_dir = os.path.join(os.fspath(dl_manager.download_dir), f'{self.name}_work',
                            items.work_name)
    options = items.frame_options
    self.info.metadata.update(
        item_ids=items.item_ids, unknown_item_lines=items.unknown_item_lines,
        num_frames=options.num_frames, height=options.height, width=options.width,
        resize=options.resize.value, **items.metadata)
    clips = extraction.extract_items(items.item_ids, items.media, options, work_dir,
                                     self._num_workers)
    return {'train': self._generate_examples(clips, items)}

  def _generate_examples(self, clips, items: ItemSources):
    counts = collections.Counter()
    for item in clips:
      status = item.clip.status.value
      counts[status] += 1
      if item.clip.status != VideoStatus.OK:
        self.items_by_status.setdefault(status, []).append(item.item_id)
      if not item.cover:
        self.items_without_cover.append(item.item_id)
      likes, views = items.likes_views.get(item.item_id, (-1, -1))
      yield item.item_id, {
          'item_id': item.item_id,
          'frames': list(item.clip.jpegs),
          'frame_indices': np.asarray(item.clip.indices, np.int64),
          'video_status': status,
          'cover': item.cover,
          'title': items.titles.get(item.item_id, ''),
          'category': items.categories.get(item.item_id, ''),
          'likes': likes,
          'views': views,
      }
    self.info.metadata['video_status_counts'] = dict(counts)
    bad = {s: n for s, n in counts.items() if s != VideoStatus.OK.value}
    log = logging.warning if bad else logging.info
    log('%s/%s: %d items, video status counts %s; lines for unknown items %s',
        self.name, self.builder_config.name, sum(counts.values()), dict(counts),
        self.info.metadata['unknown_item_lines'])
