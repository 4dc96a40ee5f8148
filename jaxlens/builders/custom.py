"""`custom/<name>` and `custom_frames/<name>`: a dataset of one's own, as MicroLens's are built.

`custom` holds the interactions in the `microlens` builder's splits and features, made by the
same code (`interactions_builder`) from the file `interaction_table` writes; its metadata adds
`source_item_ids` (the table's id of each dense item id; [0] is null), `item_id_kind` and
`time_unit`. `custom_frames` holds the items in `microlens_frames`'s features (`items_builder`),
from the content `custom_items` gathers. Both take their sources as arguments, not from a
registry: `jaxlens build custom` (`custom_build`) makes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import tensorflow_datasets as tfds

from jaxlens.builders import event_file
from jaxlens.builders.custom_items import Content
from jaxlens.builders.frames import FrameOptions
from jaxlens.builders.interaction_table import Converted
from jaxlens.builders.interactions_builder import InteractionsBuilder
from jaxlens.builders.items_builder import ItemSources, ItemsBuilder
from jaxlens.builders.sources import MappedMedia
from jaxlens.data.tfds_source import CUSTOM, CUSTOM_FRAMES


@dataclasses.dataclass(eq=False)
class CustomConfig(tfds.core.BuilderConfig):
  """The dataset's name (the config name) and the protocol of its `protocol` split."""

  beam: bool = False
  max_seq_len: int = 10
  min_seq_len: int = 5
  frame_options: FrameOptions = FrameOptions()


class CustomInteractions(InteractionsBuilder, skip_registration=True):
  """The interactions of a table of one's own."""

  name = CUSTOM
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  csv_row = staticmethod(event_file.row)

  def __init__(self, *, events_path: str, converted: Converted, **kwargs):
    """`events_path`: the `event_file` that `interaction_table.convert` wrote, `converted`."""
    super().__init__(**kwargs)
    self._events_path, self._converted = events_path, converted

  def _local_file(self, download_config) -> str:
    return self._events_path

  def _interactions_file(self, dl_manager) -> str:
    return self._events_path

  def _read_histories(self, path: str):
    return event_file.read(path)

  def _metadata(self, path: str) -> dict:
    converted = self._converted
    return {'timestamps': converted.timestamps, 'time_unit': converted.time_unit,
            'item_id_kind': converted.item_id_kind,
            'source_item_ids': converted.source_item_ids}


class CustomFrames(ItemsBuilder, skip_registration=True):
  """The items of a table of one's own: every item of the interactions, with its content."""

  name = CUSTOM_FRAMES
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}

  def __init__(self, *, content: Content, num_items: int, category_columns: tuple[str, ...],
               scratch_dir: str, fingerprint: str, **kwargs):
    """`fingerprint` names the extraction work folder: it must change with the sources."""
    super().__init__(**kwargs)
    self._content, self._num_items = content, num_items
    self._category_columns = category_columns
    self._scratch_dir, self._fingerprint = scratch_dir, fingerprint

  def _item_sources(self, dl_manager) -> ItemSources:
    content, options = self._content, self.builder_config.frame_options
    digest = hashlib.sha256(repr((self._fingerprint, options)).encode()).hexdigest()[:12]
    return ItemSources(
        list(range(1, self._num_items + 1)), content.titles, {}, content.categories,
        unknown_item_lines={source: entry['count'] for source, entry in content.unknown.items()},
        media=MappedMedia(content.videos, content.covers, os.path.join(self._scratch_dir, 'media')),
        frame_options=options, work_name=f'{self.builder_config.name}-{digest}',
        metadata={'category_columns': list(self._category_columns)})
