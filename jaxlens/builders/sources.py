"""Where a subset's files come from: a `manual_dir`, the official site, or the toy generator.

The builders ask `resolve_files` for local paths of the small files and `media_source` for the
videos and covers, which are fetched a shard at a time so that the 477 GB of 100K videos never
need to be on disk together.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
from typing import Any, Protocol, Sequence

from etils import epath

from jaxlens.builders import toy
from jaxlens.data.releases import Release
from jaxlens.errors import JaxlensError


@dataclasses.dataclass(frozen=True)
class SubsetFiles:
  """Local paths of a subset's small files; None where the release has no such file."""

  pairs: str
  titles: str | None
  likes: str | None
  categories: str | None


def _present(folder: str, name: str) -> str | None:
  """The file's path when it exists; the folder may be remote (`gs://`, for a Beam build)."""
  path = epath.Path(folder) / name
  return os.fspath(path) if path.is_file() else None


def find_pairs(release: Release, folder: str) -> str | None:
  return next(filter(None, (_present(folder, n) for n in release.pairs_candidates)), None)


def manual_files(release: Release, manual_dir: str) -> SubsetFiles:
  """Finds the files in a manual_dir; the error says which files to put where."""
  pairs = find_pairs(release, manual_dir)
  if pairs is None:
    state = 'is not a folder' if not epath.Path(manual_dir).is_dir() else 'holds no pairs file'
    raise JaxlensError(
        f'manual_dir {manual_dir} {state}: put the MicroLens {release.name} files there: '
        f'{release.layout()}' + (f'; they are published at {release.base_url}'
                                 if release.base_url else ''))
  return SubsetFiles(
      pairs=pairs, titles=_present(manual_dir, release.titles),
      likes=_present(manual_dir, release.likes) if release.has_item_files else None,
      categories=_present(manual_dir, release.categories) if release.has_item_files else None)


def download_files(release: Release, dl_manager: Any) -> SubsetFiles:
  """Downloads the small files with a TFDS download manager (`download({key: url})`)."""
  urls = {'pairs': release.base_url + release.pairs_candidates[0],
          'titles': release.base_url + release.titles}
  if release.has_item_files:
    urls.update(likes=release.base_url + release.likes,
                categories=release.base_url + release.categories)
  paths = {key: os.fspath(path) for key, path in dl_manager.download(urls).items()}
  return SubsetFiles(paths['pairs'], paths['titles'], paths.get('likes'), paths.get('categories'))


def toy_folder(spec: toy.ToySpec, root: str) -> str:
  """Writes the toy files once under `root`, reused by both builders (a marker ends a write)."""
  digest = hashlib.sha256(repr(spec).encode()).hexdigest()[:12]
  folder = os.path.join(root, f'microlens-toy-{digest}')
  marker = os.path.join(folder, 'COMPLETE')
  if not os.path.exists(marker):
    toy.write_toy_files(folder, spec)
    with open(marker, 'w', encoding='utf-8') as f:
      f.write(repr(spec))
  return folder


@dataclasses.dataclass(frozen=True)
class ItemMedia:
  item_id: int
  video: str | None  # local path, None when missing
  cover: str | None


class MediaSource(Protocol):
  """Gives local paths of a shard's media and frees them after extraction."""

  def fetch(self, item_ids: Sequence[int]) -> list[ItemMedia]:
    ...

  def release(self, media: Sequence[ItemMedia]) -> None:
    ...


@dataclasses.dataclass(frozen=True)
class LocalMedia:
  """Videos and covers already on disk (a manual_dir, the toy files); nothing to free."""

  videos_dir: str
  covers_dir: str

  def fetch(self, item_ids: Sequence[int]) -> list[ItemMedia]:
    return [ItemMedia(i, _present(self.videos_dir, f'{i}.mp4'),
                      _present(self.covers_dir, f'{i}.jpg')) for i in item_ids]

  def release(self, media: Sequence[ItemMedia]) -> None:
    del media


@dataclasses.dataclass(frozen=True)
class DownloadedMedia:
  """Downloads a shard's files in parallel and deletes them once their frames are extracted."""

  dl_manager: Any
  subset: Release
  threads: int = 8

  def _get(self, url: str) -> str | None:
    try:
      return os.fspath(self.dl_manager.download(url))
    except Exception:  # pylint: disable=broad-except
      return None  # reported as a missing video / an absent cover, like a hole in a manual_dir

  def fetch(self, item_ids: Sequence[int]) -> list[ItemMedia]:
    base = self.subset.base_url
    with concurrent.futures.ThreadPoolExecutor(self.threads) as pool:
      videos = list(pool.map(self._get, [f'{base}{self.subset.videos_dir}/{i}.mp4'
                                         for i in item_ids]))
      covers = list(pool.map(self._get, [f'{base}{self.subset.covers_dir}/{i}.jpg'
                                         for i in item_ids]))
    return [ItemMedia(i, v, c) for i, v, c in zip(item_ids, videos, covers)]

  def release(self, media: Sequence[ItemMedia]) -> None:
    for path in (p for m in media for p in (m.video, m.cover) if p):
      if os.path.exists(path):
        os.remove(path)


@dataclasses.dataclass(frozen=True)
class MappedMedia:
  """Videos and covers named item by item (a custom dataset's): local files are read where they
  are; files in a bucket (`gs://`) are copied to `scratch_dir` a shard at a time and deleted
  after extraction. A file that is not there counts as missing."""

  videos: dict[int, str]
  covers: dict[int, str]
  scratch_dir: str

  def _local(self, item: int, path: str | None) -> str | None:
    if path is None:
      return None
    source = epath.Path(path)
    if '://' not in path:
      return path if source.is_file() else None
    try:
      copy = os.path.join(self.scratch_dir, f'{item}-{source.name}')
      os.makedirs(self.scratch_dir, exist_ok=True)
      source.copy(copy, overwrite=True)
      return copy
    except (OSError, ValueError):
      return None

  def fetch(self, item_ids: Sequence[int]) -> list[ItemMedia]:
    return [ItemMedia(i, self._local(i, self.videos.get(i)), self._local(i, self.covers.get(i)))
            for i in item_ids]

  def release(self, media: Sequence[ItemMedia]) -> None:
    for path in (p for m in media for p in (m.video, m.cover) if p):
      if path.startswith(self.scratch_dir + os.sep):
        os.remove(path)


def manual_media(release: Release, folder: str) -> LocalMedia:
  return LocalMedia(os.path.join(folder, release.videos_dir),
                    os.path.join(folder, release.covers_dir))
