"""Reading built MicroLens datasets back as numpy, without TensorFlow, for training and Grain.

A subset name such as `microlens/toy` or `microlens/100k-crop` stands for two datasets: the
interactions `microlens/<release>` and the items `microlens_frames/<config>`. Reading goes through
`tfds.builder_from_directory(...).as_data_source` (array_record), so it needs neither TensorFlow
nor the builder code.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import cv2
import numpy as np
import tensorflow_datasets as tfds

from jaxlens.data import releases
from jaxlens.data.pairs import UserHistory
from jaxlens.errors import JaxlensError

INTERACTIONS, FRAMES = 'microlens', 'microlens_frames'


def dataset_names(name: str) -> tuple[str, str]:
  """`microlens/100k-crop` -> (`microlens/100k`, `microlens_frames/100k-crop`)."""
  dataset, _, config = name.partition('/')
  if dataset not in (INTERACTIONS, FRAMES) or not config:
    raise JaxlensError(f'dataset name {name!r}: expected "microlens/<config>", e.g. microlens/toy')
  release = config.split('-')[0]
  if release not in releases.RELEASES:
    raise JaxlensError(f'dataset name {name!r}: unknown subset {release!r}; '
                       f'known: {", ".join(releases.RELEASES)}')
  return f'{INTERACTIONS}/{release}', f'{FRAMES}/{config}'


def data_dir_path(data_dir: str | None) -> str:
  return os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR)


def built_dir(dataset: str, data_dir: str | None) -> str | None:
  """The newest built version folder of `dataset` ('microlens/toy'), None if there is none."""
  folder = os.path.join(data_dir_path(data_dir), dataset)
  versions = [v for v in os.listdir(folder) if re.fullmatch(r'\d+\.\d+\.\d+', v) and
              os.path.isfile(os.path.join(folder, v, 'dataset_info.json'))
              ] if os.path.isdir(folder) else []  # not TFDS's `incomplete.*` build folders
  if not versions:
    return None
  return os.path.join(folder, max(versions, key=lambda v: tuple(map(int, v.split('.')))))


def build_command(name: str, data_dir: str | None) -> str:
  release = releases.RELEASES[dataset_names(name)[0].split('/')[1]]
  command = f'python -m jaxlens.data.build microlens --config={name.split("/")[1]}'
  if data_dir:
    command += f' --data_dir={data_dir}'
  if release.name == 'toy':
    return command
  return f'{command} --manual_dir=DIR, with DIR holding {release.layout()}' + (
      f' (from {release.base_url}; without --manual_dir the build downloads them)'
      if release.base_url else '')


def _read_only_builder(dataset: str, data_dir: str | None):
  path = built_dir(dataset, data_dir)
  if path is None:
    raise JaxlensError(f'{dataset} is not built in {data_dir_path(data_dir)}: build it with '
                       f'{build_command(dataset, data_dir)}')
  return tfds.builder_from_directory(path)


def load_interactions(name: str, data_dir: str | None = None) -> list[UserHistory]:
  """Users in dataset (file) order, original ids; timestamps None where the source had none."""
  builder = _read_only_builder(dataset_names(name)[0], data_dir)
  source = builder.as_data_source('train')
  has_timestamps = builder.info.metadata['timestamps'] == 'epoch_ms'
  return [UserHistory(r['user_id'].decode(), r['item_ids'],
                      r['timestamps'] if has_timestamps else None)
          for r in source.__getitems__(range(len(source)))]


def decode_jpeg(data: bytes, what: str) -> np.ndarray:
  """Decodes JPEG (or PNG) bytes to uint8 RGB (H, W, 3); `what` names the source in errors."""
  bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if bgr is None:
    raise JaxlensError(f'{what}: not a decodable image ({len(data)} bytes)')
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class ItemFrames:
  """Clips by original item id, decoded with OpenCV to uint8 RGB `(T, H, W, 3)`.

  Also a Grain random-access source over items in increasing id order (`len`, `[index]`);
  picklable for Grain worker processes. `num_frames` keeps the central frames of the stored
  clip; `size=(H, W)` resizes on read (cheaper than a second build for small toy runs). Items
  whose video was missing or unreadable give black frames, as the reference's padding clips.
  """

  def __init__(self, name: str, data_dir: str | None = None, num_frames: int | None = None,
               size: tuple[int, int] | None = None):
    dataset = dataset_names(name)[1]
    _read_only_builder(dataset, data_dir)  # raises with the build command when not built
    self._path = built_dir(dataset, data_dir)
    self._open()
    metadata = self._builder.info.metadata
    self.item_ids = np.asarray(metadata['item_ids'], np.int64)
    self._index = {int(item): i for i, item in enumerate(self.item_ids)}
    stored = metadata['num_frames']
    if num_frames is not None and not 1 <= num_frames <= stored:
      raise JaxlensError(f'num_frames={num_frames}: the dataset stores {stored} frames per item')
    self.num_frames = num_frames or stored
    self.size = tuple(size) if size else (metadata['height'], metadata['width'])
    self._first_frame = (stored - self.num_frames) // 2

  def _open(self):
    self._builder = tfds.builder_from_directory(self._path)
    self._source = self._builder.as_data_source('train')

  def __getstate__(self):
    state = dict(self.__dict__)
    del state['_builder'], state['_source']
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._open()

  def __len__(self) -> int:
    return len(self.item_ids)

  def _position(self, item_id: int) -> int:
    try:
      return self._index[int(item_id)]
    except KeyError:
      raise JaxlensError(f'item {item_id} is not in {self._path}') from None

  def __getitem__(self, index: int) -> np.ndarray:
    record = self._source[index]
    height, width = self.size
    clip = np.zeros((self.num_frames, height, width, 3), np.uint8)
    jpegs = record['frames'][self._first_frame:self._first_frame + self.num_frames]
    for t, data in enumerate(jpegs):
      frame = decode_jpeg(data, f'item {record["item_id"]} frame {t}')
      if frame.shape[:2] != (height, width):
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
      clip[t] = frame
    return clip

  def frames(self, item_id: int) -> np.ndarray:
    return self[self._position(item_id)]

  def status(self, item_id: int) -> str:
    return self._source[self._position(item_id)]['video_status'].decode()

  def load_all(self, item_ids: Sequence[int] | None = None) -> np.ndarray:
    """`(N, T, H, W, 3)` uint8 for small datasets held in memory (default: every item)."""
    ids = self.item_ids if item_ids is None else item_ids
    clips = np.empty((len(ids), self.num_frames, *self.size, 3), np.uint8)
    for n, item in enumerate(ids):
      clips[n] = self.frames(item)
    return clips
