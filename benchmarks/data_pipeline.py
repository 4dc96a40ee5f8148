"""Data pipeline throughput: frame extraction from real videos, and Grain clips/s from `toy`.

  python -m benchmarks.data_pipeline --media_dir=$MICROLENS_DATA_DIR/microlens-media \
      [--data_dir=/tmp/jaxlens_bench_tfds]

Prints (1) clip extraction throughput on the real videos, one process (videos/s per core), with
the JPEG bytes per clip; (2) the Grain pipeline over the built `toy` items, 5x224x224 clips,
random item order, JPEG decode, batches of 32 (+ ImageNet normalisation on the host), in this
process and with worker processes; (3) the size on disk per item of the built `toy` items.
"""

from __future__ import annotations

import argparse
import glob
import os
import time

from absl import flags
import grain
import numpy as np

from jaxlens.builders import frames
from jaxlens.builders import subset as build_subset
from jaxlens.data import normalize as normalize_lib
from jaxlens.data import tfds_source


def extraction_throughput(media_dir: str, passes: int) -> None:
  paths = sorted(glob.glob(os.path.join(media_dir, 'videos', '*.mp4')))
  options = frames.FrameOptions()
  frames.extract_clip(paths[0], options)  # warm caches
  start = time.perf_counter()
  clips = [frames.extract_clip(p, options) for _ in range(passes) for p in paths]
  seconds = time.perf_counter() - start
  assert all(c.status == frames.VideoStatus.OK for c in clips)
  clip_bytes = np.mean([sum(map(len, c.jpegs)) for c in clips])
  covers = [os.path.getsize(p) for p in glob.glob(os.path.join(media_dir, 'covers', '*.jpg'))]
  print(f'extraction: {len(clips) / seconds:.2f} videos/s on one core '
        f'({len(paths)} real videos x {passes}); 5x224x224 JPEG clip {clip_bytes / 1e3:.1f} kB, '
        f'cover {np.mean(covers) / 1e3:.1f} kB per item')


def grain_throughput(items: tfds_source.ItemFrames, normalize: bool, workers: int,
                     batches: int, batch_size: int) -> float:
  dataset = grain.MapDataset.source(items).seed(0).shuffle().repeat().batch(batch_size)
  if normalize:  # per batch: stacking uint8 moves 4x fewer bytes than stacking float32
    dataset = dataset.map(normalize_lib.normalize)
  dataset = dataset.to_iter_dataset()
  if workers:
    dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
  iterator = iter(dataset)
  next(iterator)  # worker start-up is not throughput
  start = time.perf_counter()
  for _ in range(batches):
    batch = next(iterator)
  seconds = time.perf_counter() - start
  assert batch.shape == (batch_size, 5, 224, 224, 3)
  del iterator
  return batches * batch_size / seconds


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--media_dir', required=True)
  parser.add_argument('--data_dir', default='/tmp/jaxlens_bench_tfds')
  parser.add_argument('--passes', type=int, default=3)
  parser.add_argument('--batches', type=int, default=20)
  args = parser.parse_args()
  flags.FLAGS.mark_as_parsed()  # Grain's worker processes read absl flags

  extraction_throughput(args.media_dir, args.passes)

  start = time.perf_counter()
  build_subset.ensure_built('microlens/toy', args.data_dir)
  print(f'toy build (or reuse): {time.perf_counter() - start:.1f} s')
  items = tfds_source.ItemFrames('microlens/toy', args.data_dir)
  for workers in (0, 2):
    for normalize in (False, True):
      rate = grain_throughput(items, normalize, workers, args.batches, 32)
      print(f'grain: {rate:.0f} clips/s, 5x224x224, batch 32, '
            f'{"uint8 + normalise" if normalize else "uint8"}, {workers} worker processes')

  files = glob.glob(os.path.join(args.data_dir, 'microlens_frames', 'toy', '*', '*array_record*'))
  size = sum(os.path.getsize(f) for f in files)
  print(f'toy items on disk: {size / len(items) / 1e3:.1f} kB per item ({len(items)} items)')


if __name__ == '__main__':
  main()
