"""The builder config shared by the `microlens` and `microlens_frames` TFDS builders.

Both builders take the same config names (`toy`, `50k`, `100k`, `1m`; the frames builder adds
`-crop` variants), so one name builds everything a subset needs. `full`, the whole dataset, has
interactions only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any

import tensorflow_datasets as tfds

from jaxlens.builders import frames
from jaxlens.builders import sources
from jaxlens.builders import toy
from jaxlens.data import releases
from jaxlens.errors import JaxlensError


@dataclasses.dataclass(eq=False)
class MicrolensConfig(tfds.core.BuilderConfig):
  release: releases.Release = releases.RELEASES['toy']
  frame_options: frames.FrameOptions = frames.FrameOptions()
  toy_spec: toy.ToySpec | None = None  # set for the synthetic subset only
  beam: bool = False  # interactions built by Apache Beam whatever the file size (1m, full)
  max_seq_len: int = 10  # the `protocol` split (Code/VideoRec/SASRec/utils/load_data.py)
  min_seq_len: int = 5

  def fingerprint(self) -> str:
    """Names the extraction work dir, so a changed option never reuses old shard files."""
    key = repr((self.release, self.frame_options, self.toy_spec))
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _config(release: str, resize: frames.ResizeMode = frames.ResizeMode.SQUASH,
            **kwargs) -> MicrolensConfig:
  suffix = '' if resize == frames.ResizeMode.SQUASH else f'-{resize.value}'
  what = (f'frames resized by {resize.value}' if releases.RELEASES[release].has_frames
          else 'interactions only')
  return MicrolensConfig(
      name=release + suffix, release=releases.RELEASES[release],
      frame_options=frames.FrameOptions(resize=resize),
      description=f'MicroLens {release}, {what}', **kwargs)


_SUBSETS = [_config('toy', toy_spec=toy.ToySpec()), _config('50k'), _config('100k'),
            _config('1m', beam=True)]
INTERACTION_CONFIGS = _SUBSETS + [_config('full', beam=True)]
FRAME_CONFIGS = _SUBSETS + [_config(r, frames.ResizeMode.CROP) for r in ('50k', '100k', '1m')]

MANUAL_INSTRUCTIONS = 'Put the files of a MicroLens subset in manual_dir:\n' + '\n'.join(
    f'- {r.name}: {r.layout()}' for r in releases.RELEASES.values() if r.name != 'toy')


def manual_dir_given(dl_manager: Any) -> str | None:
  """The manual_dir to read, None to download; an explicitly given but missing one is an error."""
  # TFDS exposes the configured path only through a property that raises when it is absent.
  path = dl_manager._manual_dir  # pylint: disable=protected-access
  default = os.path.join(os.fspath(dl_manager.download_dir), 'manual')
  if path is None or (os.fspath(path) == default and not os.path.isdir(default)):
    return None
  return os.fspath(path)


def subset_sources(config: MicrolensConfig, dl_manager: Any
                   ) -> tuple[sources.SubsetFiles, sources.MediaSource]:
  """The small files as local paths and where the videos and covers come from."""
  release = config.release
  if config.toy_spec is not None:
    folder = sources.toy_folder(config.toy_spec, os.fspath(dl_manager.download_dir))
    return sources.manual_files(release, folder), sources.manual_media(release, folder)
  manual = manual_dir_given(dl_manager)
  if manual is not None:
    return sources.manual_files(release, manual), sources.manual_media(release, manual)
  if release.base_url is None:
    raise JaxlensError(f'MicroLens {release.name} cannot be downloaded: pass --manual_dir '
                       f'holding {release.layout()}')
  return sources.download_files(release, dl_manager), sources.DownloadedMedia(dl_manager, release)
