"""Parallel, resumable clip extraction for a whole subset.

Items are cut into shards. For each shard the media source fetches the videos and covers, a
process pool extracts the clips, the result goes to `work_dir/shard-NNNNN.pkl` (written under a
temporary name, then renamed), and the media are freed. A rerun after an interruption reuses the
shard files that exist, so at most one shard's work is lost and at most one shard's videos are on
disk at a time.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import pickle
from typing import Iterator, Sequence

import cv2
import numpy as np
import tqdm

from jaxlens.data import frames
from jaxlens.data.microlens_sources import ItemMedia, MediaSource


@dataclasses.dataclass(frozen=True)
class ItemClip:
  item_id: int
  clip: frames.Clip
  cover: bytes  # the original JPEG, empty when absent or undecodable


def _read_cover(path: str | None) -> bytes:
  if path is None:
    return b''
  with open(path, 'rb') as f:
    data = f.read()
  decodable = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_8) is not None
  return data if decodable else b''


def extract_item(media: ItemMedia, options: frames.FrameOptions) -> ItemClip:
  clip = frames.extract_clip(media.video, options)
  return ItemClip(media.item_id, clip, _read_cover(media.cover))


def extract_items(item_ids: Sequence[int], source: MediaSource, options: frames.FrameOptions,
                  work_dir: str, num_workers: int, shard_size: int = 64) -> Iterator[ItemClip]:
  """Yields the clips of `item_ids` in order; `num_workers` processes (1: in this process)."""
  os.makedirs(work_dir, exist_ok=True)
  shards = [item_ids[i:i + shard_size] for i in range(0, len(item_ids), shard_size)]
  # 'spawn': forking a process that already runs JAX threads can deadlock.
  pool = (concurrent.futures.ProcessPoolExecutor(
      num_workers, mp_context=multiprocessing.get_context('spawn')) if num_workers > 1 else None)
  progress = tqdm.tqdm(total=len(item_ids), desc='frames', unit='video', mininterval=2)
  try:
    for index, shard in enumerate(shards):
      path = os.path.join(work_dir, f'shard-{index:05d}-of-{len(shards):05d}.pkl')
      if os.path.exists(path):
        with open(path, 'rb') as f:
          clips = pickle.load(f)
      else:
        media = source.fetch(shard)
        if pool is None:
          clips = [extract_item(m, options) for m in media]
        else:
          clips = list(pool.map(extract_item, media, [options] * len(media)))
        with open(path + '.tmp', 'wb') as f:
          pickle.dump(clips, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(path + '.tmp', path)
        source.release(media)
      progress.update(len(shard))
      yield from clips
  finally:
    progress.close()
    if pool is not None:
      pool.shutdown(cancel_futures=True)
