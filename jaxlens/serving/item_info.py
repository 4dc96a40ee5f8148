"""The catalogue a run ranks: table row -> original item id, and titles and categories to show.

Titles and categories come from the built items dataset when the run read one (`data.name`), or
from the release's files given on the command line (`--titles`, `--categories`, read by the
builders' readers), or from an export, which keeps those of the items added to it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from jaxlens.builders import item_files
from jaxlens.errors import JaxlensError

Describe = Callable[[int], tuple[str, str]]  # original id -> (title, category)


@dataclasses.dataclass
class Catalogue:
  """Table rows 1..`num_items` are items; `original_ids[row]` is the item's id in the source
  data (row 0, padding, is 0)."""

  original_ids: np.ndarray  # int64 (num_items + 1,)
  describe: Describe = lambda item: ('', '')
  _rows: dict = dataclasses.field(default_factory=dict, init=False, repr=False)

  @property
  def num_items(self) -> int:
    return len(self.original_ids) - 1

  def rows_of(self, names: list[str], where: str) -> np.ndarray:
    """Table rows of items given by their original ids; unknown ones are one line."""
    if not self._rows:
      self._rows = {str(item): row for row, item in enumerate(self.original_ids) if row}
    missing = [name for name in names if name not in self._rows]
    if missing:
      shown = ', '.join(missing[:5]) + (', ...' if len(missing) > 5 else '')
      raise JaxlensError(f'{where}: {len(missing)} unknown item id(s) ({shown}); the catalogue '
                         f'holds {self.num_items:,} items')
    return np.asarray([self._rows[name] for name in names], np.int32)


def from_files(titles: str = '', categories: str = '') -> Describe:
  """(title, category) from a release's titles and categories files (either may be '')."""
  title_of = item_files.read_titles(titles, item_files.ANY_ITEM)[0] if titles else {}
  category_of = (item_files.read_categories(categories, item_files.ANY_ITEM)[0] if categories
                 else {})
  return lambda item: (title_of.get(int(item), ''), category_of.get(int(item), ''))


def from_dataset(data_config) -> Describe:
  """(title, category) from the built items dataset of `data_config.name`; none without one."""
  from jaxlens.data import tfds_source  # pylint: disable=g-import-not-at-top
  if data_config.pairs_path or tfds_source.built_dir(
      tfds_source.dataset_names(data_config.name)[1], data_config.dir or None) is None:
    return lambda item: ('', '')
  frames = tfds_source.ItemFrames(data_config.name, data_config.dir or None)
  known = set(frames.item_ids.tolist())
  return lambda item: frames.describe(int(item)) if int(item) in known else ('', '')


def joined(*sources: Describe) -> Describe:
  """The first non-empty title and category among `sources`."""

  def describe(item: int) -> tuple[str, str]:
    title = category = ''
    for source in sources:
      got_title, got_category = source(item)
      title, category = title or got_title, category or got_category
    return title, category

  return describe
