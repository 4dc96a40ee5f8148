"""The content of a custom dataset's items: titles, categories, videos and covers, by dense id.

Sources, all optional:
- an items table (`items`: CSV, TSV, Parquet or a RecBole `.item` file) with the item column and
  any of a title column, category columns, a video column and a cover column (a path or a URI;
  relative paths start from the table's folder);
- a folder of videos and one of covers, each file named `<item id>.<ext>`.
Item ids are read as the interactions' ids are (`interaction_table`): integers by value, strings
as written. What names an item the interactions lack is counted and left out; when nothing a
source names is in the interactions, the ids do not match and the build stops. Files of an
extension that is not a video (or an image) are counted and named, never read. Whether a file
decodes is found during extraction, where an unreadable one is named in the build report and
its item falls back to black frames, as an item without a video does.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Iterator

from etils import epath

from jaxlens import paths
from jaxlens.builders import interaction_table
from jaxlens.builders import tables
from jaxlens.errors import JaxlensError

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg', '.flv',
                    '.wmv', '.3gp')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp')
CATEGORY_SEPARATOR = '\t'  # between the values of several category columns in `category`
EXAMPLES = 5  # ids shown per unknown-item count


@dataclasses.dataclass(frozen=True)
class ContentSpec:
  """Where the items' content is (None: not given)."""

  items: str | None = None
  items_format: str | None = None
  item_col: str | None = None  # the items table's item column; default: the interactions' one
  title_col: str | None = None
  category_cols: tuple[str, ...] = ()
  video_col: str | None = None
  cover_col: str | None = None
  videos: str | None = None  # a folder of <item>.<ext>
  covers: str | None = None

  @property
  def given(self) -> bool:
    return bool(self.items or self.videos or self.covers)

  def columns(self) -> dict[str, str]:
    """The items table's columns by role."""
    roles = {'title': self.title_col, 'video': self.video_col, 'cover': self.cover_col}
    roles.update({f'category {i}': column for i, column in enumerate(self.category_cols)})
    return {role: column for role, column in roles.items() if column}


@dataclasses.dataclass(frozen=True)
class Content:
  """Every source resolved to dense item ids, and what could not be used."""

  titles: dict[int, str]
  categories: dict[int, str]
  videos: dict[int, str]
  covers: dict[int, str]
  unknown: dict[str, dict[str, Any]]  # per source: {'count': n, 'examples': [...]}
  unsupported: dict[str, list[str]]  # 'videos', 'covers': files of other extensions


def check(spec: ContentSpec, interactions_item_col: str) -> tables.Table | None:
  """The checks before any long work: flags that go together, columns, folders."""
  if spec.videos and spec.video_col:
    raise JaxlensError('give videos as a folder (--videos) or a column (--video_col), not both')
  if spec.covers and spec.cover_col:
    raise JaxlensError('give covers as a folder (--covers) or a column (--cover_col), not both')
  for flag, folder in (('--videos', spec.videos), ('--covers', spec.covers)):
    if folder and not paths.resolve(folder).is_dir():
      raise JaxlensError(f'{flag} {folder}: no such folder')
  if not spec.items:
    if spec.columns() or spec.item_col:
      raise JaxlensError('--title_col, --category_cols, --video_col, --cover_col and '
                         '--items_item_col name columns of an items table: give it with --items')
    return None
  table = tables.open_table(spec.items, tables.format_of(spec.items, spec.items_format))
  table.require(spec.item_col or _item_column(table, interactions_item_col), '--items_item_col')
  for flag, column in (('--title_col', spec.title_col), ('--video_col', spec.video_col),
                       ('--cover_col', spec.cover_col),
                       *(('--category_cols', column) for column in spec.category_cols)):
    if column:
      table.require(column, flag)
  if not spec.columns():
    raise JaxlensError(f'--items {spec.items}: name at least one of its columns to use '
                       '(--title_col, --category_cols, --video_col, --cover_col)')
  return table


def _item_column(table: tables.Table, interactions_item_col: str) -> str:
  for name in (interactions_item_col, *interaction_table.DEFAULT_ITEM_COLUMNS):
    if name in table.columns:
      return name
  return interactions_item_col


class _Ids:
  """Source ids (text) -> dense ids, as the interactions read them."""

  def __init__(self, source_item_ids: list[Any], kind: str):
    self._kind = kind
    self._dense = {item: dense for dense, item in enumerate(source_item_ids) if dense}

  def dense(self, text: str) -> int | None:
    if self._kind == 'integer':
      return self._dense.get(int(text)) if re.fullmatch(interaction_table.INTEGER, text) else None
    return self._dense.get(text)


class _Unknown:
  """Counts what a source names that the interactions lack."""

  def __init__(self, source: str, total: dict[str, dict[str, Any]]):
    self._entry = total.setdefault(source, {'count': 0, 'examples': []})
    self.source = source

  def add(self, text: str) -> None:
    self._entry['count'] += 1
    if len(self._entry['examples']) < EXAMPLES:
      self._entry['examples'].append(text)

  def check_some_matched(self, matched: int) -> None:
    """Nothing matched while something was named: the ids do not match, which is an error."""
    if matched or not self._entry['count']:
      return
    raise JaxlensError(
        f'{self.source}: none of its {self._entry["count"]:,} item ids is an item of the '
        f'interactions (e.g. {", ".join(map(repr, self._entry["examples"]))}); do the ids match?')


def _rows(table: tables.Table, item_col: str, roles: dict[str, str]
          ) -> Iterator[tuple[int, str, dict[str, Any]]]:
  """(row, item id text, {role: value}) of each row of the items table."""
  names = [item_col] + [column for column in roles.values() if column != item_col]
  for start, batch in tables.batches(table, names):
    ids = interaction_table.id_text(batch[item_col], table, item_col, start)
    values = {role: batch[column].to_pylist() for role, column in roles.items()}
    for offset, text in enumerate(ids.to_pylist()):
      yield start + offset, text, {role: column[offset] for role, column in values.items()}


def _media_path(value: Any, table: tables.Table) -> str | None:
  if value is None or not str(value).strip():
    return None
  value = str(value).strip()
  if '://' in value or os.path.isabs(value):
    return value
  return os.fspath(epath.Path(table.path).parent / value)


def _by_extension(path: str, extensions: tuple[str, ...]) -> bool:
  return os.path.splitext(path)[1].lower() in extensions


def _read_items_table(spec: ContentSpec, table: tables.Table, item_col: str, ids: _Ids,
                      content: Content) -> None:
  unknown = _Unknown(f'--items {spec.items}', content.unknown)
  first_row: dict[int, int] = {}
  roles = spec.columns()
  for row, text, values in _rows(table, item_col, roles):
    dense = ids.dense(text)
    if dense is None:
      unknown.add(text)
      continue
    if dense in first_row:
      raise JaxlensError(f'{table.where(row)}: item {text!r} again (first at '
                         f'{table.where(first_row[dense])})')
    first_row[dense] = row
    if values.get('title') is not None:
      content.titles[dense] = str(values['title']).strip()
    categories = [values[role] for role in roles if role.startswith('category')]
    if any(value is not None and str(value).strip() for value in categories):
      content.categories[dense] = CATEGORY_SEPARATOR.join(
          '' if value is None else str(value).strip().replace(CATEGORY_SEPARATOR, ' ')
          for value in categories)
    for role, target, extensions in (('video', content.videos, VIDEO_EXTENSIONS),
                                     ('cover', content.covers, IMAGE_EXTENSIONS)):
      path = _media_path(values.get(role), table)
      if path is None:
        continue
      if _by_extension(path, extensions):
        target[dense] = path
      else:
        content.unsupported[f'{role}s'].append(path)
  unknown.check_some_matched(len(first_row))


def _read_folder(flag: str, folder: str, extensions: tuple[str, ...], ids: _Ids,
                 target: dict[int, str], content: Content, kind: str) -> None:
  unknown = _Unknown(f'{flag} {folder}', content.unknown)
  files = sorted(p for p in paths.resolve(folder).iterdir() if not p.is_dir())
  for file in files:
    name = os.fspath(file)
    if not _by_extension(name, extensions):
      content.unsupported[kind].append(name)
      continue
    dense = ids.dense(file.stem)
    if dense is None:
      unknown.add(file.name)
    elif dense in target:
      raise JaxlensError(f'{flag} {folder}: two files for item {file.stem!r}: '
                         f'{os.path.basename(target[dense])} and {file.name}')
    else:
      target[dense] = name
  unknown.check_some_matched(len(target))


def gather(spec: ContentSpec, table: tables.Table | None, interactions_item_col: str,
           source_item_ids: list[Any], item_id_kind: str) -> Content:
  """Every source read and resolved to the dense ids of `source_item_ids`."""
  ids = _Ids(source_item_ids, item_id_kind)
  content = Content({}, {}, {}, {}, {}, {'videos': [], 'covers': []})
  if table is not None:
    _read_items_table(spec, table, spec.item_col or _item_column(table, interactions_item_col),
                      ids, content)
  if spec.videos:
    _read_folder('--videos', spec.videos, VIDEO_EXTENSIONS, ids, content.videos, content,
                 'videos')
  if spec.covers:
    _read_folder('--covers', spec.covers, IMAGE_EXTENSIONS, ids, content.covers, content,
                 'covers')
  return content

