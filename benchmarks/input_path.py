r"""Can the input path keep an accelerator fed? Host-decoded clips against device-resident ones.

  python -m benchmarks.input_path [--data_dir /tmp/jaxlens_bench_tfds] [--workers 0,1,2]

Measures, on this machine, over the built `toy` items (5x224x224 JPEG frames, decoded with
OpenCV):
- the host path: distinct clips/s the training pipeline (`pipeline.train_dataset`: a batch's
  distinct items, their JPEGs decoded) delivers with 0 (threads only), 1, 2, ... Grain worker
  processes;
- the device path (`data.clip_store='device'`): clips/s a jitted gather from the device-resident
  table delivers here (a CPU "device", which says little about a chip), and on each chip as an
  estimate: its memory bandwidth over the bytes a gathered clip moves (read once, written once).
Beside them: clips/s the paper's step consumes at 40% MFU on an H200, a TPU v5e chip and an H100,
from the ahead-of-time FLOPs of the step (`jaxlens aot`; default: docs/scaling.md's 147.8
TFLOP for SlowFast-r50 topT, 480 users x 11 slots, 5,280 distinct clips) and each chip's bf16
peak. The host figure scaled to a 16-core host is an estimate (linear in cores).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from jaxlens.data import clip_table, pipeline, tasks, tfds_source
from jaxlens.builders import subset as build_subset
from jaxlens.data.clips import ClipStore
from jaxlens.data.protocol import apply_protocol
from jaxlens.train import chips

CHIPS = [chip for chip in chips.CHIPS.values() if chip.name in ('H200', 'TPU v5e', 'H100')]
CLIP_BYTES = 5 * 224 * 224 * 3  # uint8
MFU = 0.4


def host_clips_per_second(store, data, workers: int, batches: int, users: int) -> float:
  layout = pipeline.BatchLayout(tasks.get('sequence'), data.num_items, clips=store,
                                clip_multiple=1)
  options = pipeline.ReadOptions(worker_processes=workers, threads=2, prefetch=2)
  iterator = iter(pipeline.train_dataset(tasks.get('sequence').rows(data), layout, users,
                                         num_epochs=100, seed=0, options=options))
  next(iterator)  # worker start-up is not throughput
  start, clips = time.perf_counter(), 0
  for _ in range(batches):
    clips += int(next(iterator)[pipeline.CLIP_MASK].sum())
  return clips / (time.perf_counter() - start)


def device_clips_per_second(store, data, batches: int, users: int) -> float:
  mesh = jax.make_mesh((1,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
  table = clip_table.load(store, data.num_items, mesh, 'data')
  gather = jax.jit(lambda t, ids: jnp.sum(clip_table.gather(t, ids, table.sharding),
                                          dtype=jnp.uint32))
  rng = np.random.default_rng(0)
  draw = lambda: jnp.asarray(rng.integers(1, data.num_items + 1, size=users * 4), jnp.int32)
  jax.block_until_ready(gather(table, draw()))
  start = time.perf_counter()
  for _ in range(batches):
    jax.block_until_ready(gather(table, draw()))
  return batches * users * 4 / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default='/tmp/jaxlens_bench_tfds')
  parser.add_argument('--workers', default='0,1,2', help='Grain worker processes to try')
  parser.add_argument('--users', type=int, default=32, help='users per batch')
  parser.add_argument('--batches', type=int, default=20)
  parser.add_argument('--step_tflops', type=float, default=147.8,
                      help='ahead-of-time FLOPs of one training step (jaxlens aot)')
  parser.add_argument('--clips_per_step', type=int, default=5280)
  parser.add_argument('--host_cores', type=int, default=16, help='the accelerator host')
  args = parser.parse_args()
  flags.FLAGS.mark_as_parsed()  # Grain's worker processes read absl flags
  build_subset.ensure_built('microlens/toy', args.data_dir)
  frames = tfds_source.ItemFrames('microlens/toy', args.data_dir)  # 5 x 224 x 224 JPEGs
  histories = tfds_source.load_interactions('microlens/toy', args.data_dir)
  data = apply_protocol(histories, max_seq_len=10)
  store = ClipStore(frames, data.original_item_ids, in_memory=False)
  cores = len(os.sched_getaffinity(0))
  print(f'{cores} cores here, load average {os.getloadavg()[0]:.1f}; clips 5x224x224 uint8 '
        f'from JPEG; {args.users} users per batch, {args.batches} batches')
  rows = []
  for workers in [int(w) for w in args.workers.split(',')]:
    rate = host_clips_per_second(store, data, workers, args.batches, args.users)
    rows.append((f'host, {workers} worker processes', rate, rate * args.host_cores / cores))
  rate = device_clips_per_second(store, data, args.batches, args.users)
  rows.append(('device-resident table (gather, CPU backend)', rate, None))
  flops_per_clip = args.step_tflops * 1e12 / args.clips_per_step
  print(f'\n| path | clips/s here | estimate on a {args.host_cores}-core host |')
  print('|---|---:|---:|')
  for name, here, scaled in rows:
    print(f'| {name} | {here:,.0f} | {"–" if scaled is None else f"{scaled:,.0f}"} |')
  best_host = max(scaled for _, _, scaled in rows if scaled is not None)
  print(f'\nconsumption at {MFU:.0%} MFU ({flops_per_clip / 1e9:.1f} GFLOP per distinct clip):')
  print('\n| chip | clips/s consumed | best host path / consumed | device gather (estimate) / '
        'consumed |')
  print('|---|---:|---:|---:|')
  for chip in CHIPS:
    consumed = MFU * chip.peak_tflops * 1e12 / flops_per_clip
    gathered = chip.hbm_gbps * 1e9 / (2 * CLIP_BYTES)
    print(f'| {chip.name} | {consumed:,.0f} | {best_host / consumed:.2f} | '
          f'{gathered / consumed:,.0f} |')


if __name__ == '__main__':
  main()
