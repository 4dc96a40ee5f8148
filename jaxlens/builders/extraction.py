"""Parallel, resumable clip extraction for a whole subset.

Items are cut into shards. For each shard the media source fetches the videos and covers, the
clips are extracted (in this process until a shard takes longer than `POOL_AFTER_SECONDS`, then
by a process pool), the result goes to `work_dir/shard-NNNNN-of-NNNNN.npz` (written
under a temporary name, then renamed), and the media are freed. A rerun after an interruption
reuses the shard files that exist, so at most one shard's work is lost and at most one shard's
videos are on disk at a time.

Shard files hold plain arrays and are read with `allow_pickle=False`: the work dir lives in the
data dir, and a file planted there must never run code when a training run builds on demand. A
shard that does not read back as such arrays is extracted again.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import time
from typing import Iterator, Sequence

import cv2
import numpy as np
import tqdm
from absl import logging

from jaxlens.builders import frames
from jaxlens.builders.sources import ItemMedia, MediaSource


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


def _concatenated(chunks: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
  """Byte strings as one uint8 buffer and their lengths."""
  lengths = np.asarray([len(c) for c in chunks], np.int64)
  return np.frombuffer(b''.join(chunks), np.uint8), lengths


def _split(buffer: np.ndarray, lengths: np.ndarray) -> list[bytes]:
  ends = np.cumsum(lengths)
  return [buffer[end - n:end].tobytes() for n, end in zip(lengths, ends)]


def save_shard(path: str, clips: Sequence[ItemClip]) -> None:
  """Writes `clips` as arrays only (no pickled objects), atomically."""
  jpegs, jpeg_lengths = _concatenated([j for c in clips for j in c.clip.jpegs])
  covers, cover_lengths = _concatenated([c.cover for c in clips])
  with open(path + '.tmp', 'wb') as f:
    np.savez(f, item_ids=np.asarray([c.item_id for c in clips], np.int64),
             status=np.asarray([c.clip.status.value for c in clips], np.str_),
             frames_per_item=np.asarray([len(c.clip.jpegs) for c in clips], np.int64),
             indices=np.asarray([i for c in clips for i in c.clip.indices], np.int64),
             indices_per_item=np.asarray([len(c.clip.indices) for c in clips], np.int64),
             jpegs=jpegs, jpeg_lengths=jpeg_lengths, covers=covers, cover_lengths=cover_lengths)
  os.replace(path + '.tmp', path)


def load_shard(path: str) -> list[ItemClip]:
  """Reads a shard written by `save_shard`; raises ValueError for anything else."""
  with np.load(path, allow_pickle=False) as z:
    arrays = {name: z[name] for name in z.files}
  jpegs = iter(_split(arrays['jpegs'], arrays['jpeg_lengths']))
  indices = iter(arrays['indices'].tolist())
  clips = []
  for item, status, count, index_count, cover in zip(
      arrays['item_ids'].tolist(), arrays['status'].tolist(), arrays['frames_per_item'].tolist(),
      arrays['indices_per_item'].tolist(), _split(arrays['covers'], arrays['cover_lengths'])):
    clip = frames.Clip(tuple(next(jpegs) for _ in range(count)),
                       tuple(next(indices) for _ in range(index_count)),
                       frames.VideoStatus(status))
    clips.append(ItemClip(item, clip, cover))
  return clips


def _finished_shard(path: str, item_ids: Sequence[int]) -> list[ItemClip] | None:
  """The clips of a shard extracted before, or None when there is none or it is unusable."""
  if not os.path.exists(path):
    return None
  try:
    clips = load_shard(path)
  except (ValueError, KeyError, OSError, EOFError, StopIteration) as e:
    logging.warning('%s is not a shard file jaxlens wrote (%s); extracting it again', path, e)
    return None
  if [c.item_id for c in clips] != list(item_ids):
    logging.warning('%s holds other items; extracting it again', path)
    return None
  return clips


# A worker of the pool is a fresh interpreter that imports what the main module imports (under
# `tfds build`, TensorFlow: 6 s or more a worker); shards of small videos never win that back
# (the `toy` subset's 7 shards take 0.2 s in all).
POOL_AFTER_SECONDS = 2.0


def extract_items(item_ids: Sequence[int], source: MediaSource, options: frames.FrameOptions,
                  work_dir: str, num_workers: int, shard_size: int = 64,
                  pool_after_seconds: float = POOL_AFTER_SECONDS) -> Iterator[ItemClip]:
  """Yields the clips of `item_ids` in order; in this process until a shard takes longer than
  `pool_after_seconds`, then in `num_workers` processes (1: never)."""
  os.makedirs(work_dir, exist_ok=True)
  shards = [item_ids[i:i + shard_size] for i in range(0, len(item_ids), shard_size)]
  pool = None
  progress = tqdm.tqdm(total=len(item_ids), desc='frames', unit='video', mininterval=2)
  try:
    for index, shard in enumerate(shards):
      path = os.path.join(work_dir, f'shard-{index:05d}-of-{len(shards):05d}.npz')
      clips = _finished_shard(path, shard)
      if clips is None:
        media = source.fetch(shard)
        if pool is None:
          start = time.monotonic()
          clips = [extract_item(m, options) for m in media]
          if num_workers > 1 and time.monotonic() - start > pool_after_seconds:
            # 'spawn': forking a process that already runs JAX threads can deadlock.
            pool = concurrent.futures.ProcessPoolExecutor(
                num_workers, mp_context=multiprocessing.get_context('spawn'))
        else:
          clips = list(pool.map(extract_item, media, [options] * len(media)))
        save_shard(path, clips)
        source.release(media)
      progress.update(len(shard))
      yield from clips
  finally:
    progress.close()
    if pool is not None:
      pool.shutdown(cancel_futures=True)
