"""Reading built datasets back as numpy, without TensorFlow, for training and Grain.

A subset name such as `microlens/toy` or `microlens/100k-crop` stands for two datasets: the
interactions `microlens/<release>` and the items `microlens_frames/<config>`; a dataset of one's
own, `custom/<name>`, for `custom/<name>` and `custom_frames/<name>`. Reading goes through
`tfds.builder_from_directory(...).as_data_source` (array_record), so it needs neither TensorFlow
nor the builder code.

The interactions have two splits: `train`, every user with the original ids
(`load_interactions`), and `protocol`, the users the protocol keeps with renumbered items, read
by user index (`ProtocolRows`) or whole (`load_protocol`).
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import cv2
import numpy as np
import tensorflow_datasets as tfds

from jaxlens import paths
from jaxlens.data import releases
from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import Interactions, ProtocolSummary
from jaxlens.errors import JaxlensError

INTERACTIONS, FRAMES = 'microlens', 'microlens_frames'
CUSTOM, CUSTOM_FRAMES = 'custom', 'custom_frames'  # `jaxlens build custom --name NAME`
RAW_SPLIT, PROTOCOL_SPLIT = 'train', 'protocol'  # of the interactions
CUSTOM_DOCS = 'the "Your own data" page of the documentation (docs/custom-data.md)'


def is_custom(name: str) -> bool:
  return name.partition('/')[0] in (CUSTOM, CUSTOM_FRAMES)


def dataset_names(name: str) -> tuple[str, str]:
  """`microlens/100k-crop` -> (`microlens/100k`, `microlens_frames/100k-crop`);
  `custom/shop` -> (`custom/shop`, `custom_frames/shop`)."""
  dataset, _, config = name.partition('/')
  if is_custom(name) and config:
    return f'{CUSTOM}/{config}', f'{CUSTOM_FRAMES}/{config}'
  if dataset not in (INTERACTIONS, FRAMES) or not config:
    raise JaxlensError(f'dataset name {name!r}: expected "microlens/<config>", e.g. '
                       'microlens/toy, or "custom/<name>" for a dataset built with jaxlens build '
                       'custom')
  release = config.split('-')[0]
  if release not in releases.RELEASES:
    raise JaxlensError(f'dataset name {name!r}: unknown subset {release!r}; '
                       f'known: {", ".join(releases.RELEASES)}')
  return f'{INTERACTIONS}/{release}', f'{FRAMES}/{config}'


def data_dir_path(data_dir: str | None) -> str:
  return os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR)


def built_dir(dataset: str, data_dir: str | None) -> str | None:
  """The newest built version folder of `dataset` ('microlens/toy'), None if there is none."""
  folder = paths.resolve(data_dir_path(data_dir)) / dataset
  versions = [v.name for v in folder.iterdir() if re.fullmatch(r'\d+\.\d+\.\d+', v.name) and
              (v / 'dataset_info.json').exists()
              ] if folder.is_dir() else []  # not TFDS's `incomplete.*` build folders
  if not versions:
    return None
  return os.fspath(folder / max(versions, key=lambda v: tuple(map(int, v.split('.')))))


def build_command(name: str, data_dir: str | None) -> str:
  if is_custom(name):
    return (f'jaxlens build custom --name {name.split("/")[1]} --interactions FILE' +
            (f' --data_dir={data_dir}' if data_dir else '') +
            ' (with --videos, --covers or --items for its content; see ' + CUSTOM_DOCS + ')')
  release = releases.RELEASES[dataset_names(name)[0].split('/')[1]]
  command = f'jaxlens build microlens --config={name.split("/")[1]}'
  if data_dir:
    command += f' --data_dir={data_dir}'
  if release.name == 'toy':
    return command
  return f'{command} --manual_dir=DIR, with DIR holding {release.layout()}' + (
      f' (from {release.base_url}; without --manual_dir the build downloads them)'
      if release.base_url else '')


def _built_path(dataset: str, data_dir: str | None) -> str:
  path = built_dir(dataset, data_dir)
  if path is None:
    raise JaxlensError(f'{dataset} is not built in {data_dir_path(data_dir)}: build it with '
                       f'{build_command(dataset, data_dir)}')
  return path


def load_interactions(name: str, data_dir: str | None = None) -> list[UserHistory]:
  """Users in dataset (file) order, original ids; timestamps None where the source had none."""
  builder = tfds.builder_from_directory(_built_path(dataset_names(name)[0], data_dir))
  source = builder.as_data_source(RAW_SPLIT)
  has_timestamps = builder.info.metadata['timestamps'] == 'epoch_ms'
  return [UserHistory(r['user_id'].decode(), r['item_ids'],
                      r['timestamps'] if has_timestamps else None)
          for r in source.__getitems__(range(len(source)))]


def source_item_ids(name: str, data_dir: str | None, item_ids: Sequence[int]) -> list:
  """The ids the source gave items `item_ids` (dataset ids, such as `ProtocolSummary.
  original_item_ids` holds): a custom dataset's table ids (integers or strings), and
  MicroLens's ids as they are."""
  if not is_custom(name):
    return [int(item) for item in item_ids]
  path = _built_path(dataset_names(name)[0], data_dir)
  table = tfds.builder_from_directory(path).info.metadata['source_item_ids']
  return [table[int(item)] for item in item_ids]


class _SplitSource:
  """A split of a built dataset; picklable for Grain's worker processes, which open it again."""

  def __init__(self, path: str, split: str):
    self._path, self._split = path, split
    self._open()

  def _open(self):
    self._builder = tfds.builder_from_directory(self._path)
    self._source = self._builder.as_data_source(self._split)

  def __getstate__(self):
    state = dict(self.__dict__)
    del state['_builder'], state['_source']
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._open()

  def __len__(self) -> int:
    return len(self._source)


class ProtocolRows(_SplitSource):
  """The protocol's rows of a built `microlens/<subset>`, read by user index.

  `rows(indices)` equals `apply_protocol(load_interactions(name), max_seq_len,
  min_seq_len).sequences[indices]` for the protocol the dataset was built with, which `summary`
  gives with the vocabulary, train popularity and counts: a training process holds the summary
  and reads the rows of its own users only. A Grain random-access source (`[index]`: one row).
  """

  def __init__(self, name: str, data_dir: str | None = None):
    dataset = dataset_names(name)[0]
    path = _built_path(dataset, data_dir)
    if PROTOCOL_SPLIT not in tfds.builder_from_directory(path).info.splits:
      raise JaxlensError(f'{path} has no protocol split (built by an older jaxlens): build it '
                         f'again with {build_command(dataset, data_dir)}')
    super().__init__(path, PROTOCOL_SPLIT)
    self.summary = ProtocolSummary.from_json(self._builder.info.metadata['protocol'])

  def read(self, user_indices: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """Left-padded int32 rows `(n, max_seq_len + 3)` and the user ids."""
    width = self.summary.max_seq_len + 3
    rows = np.zeros((len(user_indices), width), np.int32)
    users = []
    for row, record in zip(rows, self._source.__getitems__(list(user_indices))):
      row[width - len(record['item_ids']):] = record['item_ids']
      users.append(record['user_id'].decode())
    return rows, users

  def rows(self, user_indices: Sequence[int]) -> np.ndarray:
    return self.read(user_indices)[0]

  def __getitem__(self, index: int) -> np.ndarray:
    return self.rows([index])[0]


def protocol_rows_if_built(name: str, data_dir: str | None, max_seq_len: int,
                          min_seq_len: int) -> ProtocolRows | None:
  """The protocol split of `name` when it was built with this protocol, else None."""
  path = built_dir(dataset_names(name)[0], data_dir)
  if path is None or PROTOCOL_SPLIT not in tfds.builder_from_directory(path).info.splits:
    return None
  source = ProtocolRows(name, data_dir)
  summary = source.summary
  if (summary.max_seq_len, summary.min_seq_len) != (max_seq_len, min_seq_len):
    return None
  return source


def load_protocol(name: str, data_dir: str | None = None, max_seq_len: int = 10,
                  min_seq_len: int = 5) -> Interactions:
  """`apply_protocol(load_interactions(name), max_seq_len, min_seq_len)`, read from the protocol
  split, without applying it again; the protocol must be the one the dataset was built with."""
  source = ProtocolRows(name, data_dir)
  summary = source.summary
  if (summary.max_seq_len, summary.min_seq_len) != (max_seq_len, min_seq_len):
    raise JaxlensError(
        f'{name} was built with the protocol max_seq_len={summary.max_seq_len}, min_seq_len='
        f'{summary.min_seq_len}, not {max_seq_len}, {min_seq_len}: apply the protocol to '
        'load_interactions(...) in memory instead')
  rows, users = source.read(range(len(source)))
  return Interactions(rows, summary.original_item_ids, tuple(users), summary.max_seq_len)


def decode_jpeg(data: bytes, what: str) -> np.ndarray:
  """Decodes JPEG (or PNG) bytes to uint8 RGB (H, W, 3); `what` names the source in errors."""
  bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if bgr is None:
    raise JaxlensError(f'{what}: not a decodable image ({len(data)} bytes)')
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class ItemFrames(_SplitSource):
  """Clips by original item id, decoded with OpenCV to uint8 RGB `(T, H, W, 3)`.

  Also a Grain random-access source over items in increasing id order (`len`, `[index]`);
  picklable for Grain worker processes. `num_frames` keeps the central frames of the stored
  clip; `size=(H, W)` resizes on read (cheaper than a second build for small toy runs). Items
  whose video was missing or unreadable give black frames, as the reference's padding clips.
  """

  def __init__(self, name: str, data_dir: str | None = None, num_frames: int | None = None,
               size: tuple[int, int] | None = None):
    super().__init__(_built_path(dataset_names(name)[1], data_dir), 'train')
    metadata = self._builder.info.metadata
    self.item_ids = np.asarray(metadata['item_ids'], np.int64)
    self._index = {int(item): i for i, item in enumerate(self.item_ids)}
    stored = metadata['num_frames']
    if num_frames is not None and not 1 <= num_frames <= stored:
      raise JaxlensError(f'num_frames={num_frames}: the dataset stores {stored} frames per item')
    self.num_frames = num_frames or stored
    self.size = tuple(size) if size else (metadata['height'], metadata['width'])

  def _position(self, item_id: int) -> int:
    try:
      return self._index[int(item_id)]
    except KeyError:
      raise JaxlensError(f'item {item_id} is not in {self._path}') from None

  def __getitem__(self, index: int) -> np.ndarray:
    record = self._source[index]
    return clip_from_jpegs(record['frames'], self.num_frames, self.size,
                           f'item {record["item_id"]}')

  def frames(self, item_id: int) -> np.ndarray:
    return self[self._position(item_id)]

  def describe(self, item_id: int) -> tuple[str, str]:
    """(title, category) of an item; '' where the release has none."""
    record = self._source[self._position(item_id)]
    return record['title'].decode(), record['category'].decode()

  def status(self, item_id: int) -> str:
    return self._source[self._position(item_id)]['video_status'].decode()

  def load_all(self, item_ids: Sequence[int] | None = None) -> np.ndarray:
    """`(N, T, H, W, 3)` uint8 for small datasets held in memory (default: every item)."""
    ids = self.item_ids if item_ids is None else item_ids
    clips = np.empty((len(ids), self.num_frames, *self.size, 3), np.uint8)
    for n, item in enumerate(ids):
      clips[n] = self.frames(item)
    return clips


class ItemTexts:
  """The texts of a built items dataset, in increasing item id order: titles, the values of each
  category column (`category`, or a custom dataset's `category_columns`), likes and views."""

  def __init__(self, name: str, data_dir: str | None = None):
    self.path = _built_path(dataset_names(name)[1], data_dir)
    self.name = dataset_names(name)[1]
    builder = tfds.builder_from_directory(self.path)
    source = builder.as_data_source('train')
    records = source.__getitems__(range(len(source)))
    self.item_ids = np.asarray([r['item_id'] for r in records], np.int64)
    self.titles = [r['title'].decode() for r in records]
    names = builder.info.metadata.get('category_columns') or ['category']
    values = [r['category'].decode().split('\t') if r['category'] else [''] * len(names)
              for r in records]
    self.categories = {name if len(names) == 1 and name == 'category' else f'category:{name}':
                       [v[column] for v in values] for column, name in enumerate(names)}
    self.likes_views = np.asarray([(r['likes'], r['views']) for r in records], np.float64
                                  ).reshape(-1, 2)


class ItemCovers(ItemFrames):
  """Cover images by original item id, as still clips: the cover resized to `size` and repeated
  `num_frames` times (1: a single frame, for image-capable encoders; more for encoders that
  need a clip). Items without a cover give black frames."""

  def __init__(self, name: str, data_dir: str | None = None, num_frames: int = 1,
               size: tuple[int, int] | None = None):
    super().__init__(name, data_dir, size=size)
    if num_frames < 1:
      raise JaxlensError(f'num_frames={num_frames}: a cover clip has at least one frame')
    self.num_frames = num_frames

  def __getitem__(self, index: int) -> np.ndarray:
    record = self._source[index]
    return cover_clip(record['cover'], self.num_frames, self.size,
                      f'item {record["item_id"]} cover')


def clip_from_jpegs(jpegs, num_frames: int, size: tuple[int, int], what: str) -> np.ndarray:
  """uint8 `(num_frames, H, W, 3)`: the central `num_frames` of a stored clip's JPEG frames,
  decoded and resized to `size`; a clip without frames (missing video) is black."""
  height, width = size
  first = (len(jpegs) - num_frames) // 2 if len(jpegs) else 0
  clip = np.zeros((num_frames, height, width, 3), np.uint8)
  for t, data in enumerate(jpegs[first:first + num_frames]):
    frame = decode_jpeg(data, f'{what} frame {t}')
    if frame.shape[:2] != (height, width):
      frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    clip[t] = frame
  return clip


def cover_clip(cover: bytes, num_frames: int, size: tuple[int, int], what: str) -> np.ndarray:
  """A cover image as a still clip: resized to `size`, repeated `num_frames` times; no cover
  gives black frames."""
  height, width = size
  if not cover:
    return np.zeros((num_frames, height, width, 3), np.uint8)
  image = cv2.resize(decode_jpeg(cover, what), (width, height), interpolation=cv2.INTER_AREA)
  return np.repeat(image[None], num_frames, axis=0)
