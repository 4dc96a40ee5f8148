r"""Ahead-of-time compile of the paper's SASRec_V train step: XLA FLOPs and per-device memory.

Lowers jaxlens' jitted train step (`Trainer.lower`, the step `run_train_step` calls) with
abstract inputs (`jax.ShapeDtypeStruct` carrying the batch sharding; the clips are never
materialised), compiles it for a `data` mesh of simulated CPU devices and prints, per compile,
`cost_analysis()` FLOPs and `memory_analysis()` sizes per device, then which accelerators the
per-device total fits. Default: SlowFast-r50 topT with its Kinetics head, 5x224x224 uint8 clips,
480 users x 11 slots, D=512, 8 devices, every slot a distinct clip (5280), with and without
`config.model.encoder.remat`.

  python -m benchmarks.videorec_aot                      # paper size, both remat
  python -m benchmarks.videorec_aot --unique 5280,2048 --remat off
  python -m benchmarks.videorec_aot --users 16 --size 32 --unique 64  # tiny check

The figures are XLA:CPU's: its fusion and buffer assignment differ from XLA:GPU/TPU's (no cuDNN
workspaces, other layouts), so the memory column is an estimate of a real accelerator's need.
"""

from __future__ import annotations

import os

# Simulated devices must be requested before JAX initialises (videorec_common imports it).
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import argparse  # pylint: disable=g-import-not-at-top,wrong-import-position
import time  # pylint: disable=g-import-not-at-top,wrong-import-position

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

from benchmarks import videorec_common as common  # pylint: disable=wrong-import-position
from jaxlens.data.pipeline import CLIP_MASK  # pylint: disable=wrong-import-position
from jaxlens.train import aot  # pylint: disable=wrong-import-position

HBM_GIB = {'TPU v5e (16 GiB)': 16, 'H100 (80 GiB)': 80, 'H200 (141 GiB)': 141}


def _compile(args, data, remat: bool, unique: int) -> dict:
  """One AOT compile; its FLOPs, memory sizes and timings."""
  config = common.videorec_config(args.encoder, users=args.users, frames=args.frames,
                                  size=args.size, hidden=args.hidden, dtype=args.dtype,
                                  remat=remat, train_mode=args.train_mode, output=args.output)
  start = time.perf_counter()
  trainer, _, sharding = common.build(config, data, args.devices)
  built = time.perf_counter()
  layout = common.full_batch(args.users, unique, args.devices, data.num_items)
  batch = common.batch_structs(layout, (args.frames, args.size, args.size, 3), sharding)
  lowered = trainer.lower(batch, common.full_positions(args.users))
  lowered_at = time.perf_counter()
  compiled = lowered.compile()
  compiled_at = time.perf_counter()
  return {'remat': remat, 'unique': len(layout[CLIP_MASK]),
          'global_flops': aot.flops(lowered.cost_analysis()),
          'device_flops': aot.flops(compiled.cost_analysis()),
          'memory': aot.memory(compiled), 'build_s': built - start,
          'lower_s': lowered_at - built, 'compile_s': compiled_at - lowered_at}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--encoder', default='slowfast_r50')
  parser.add_argument('--output', default='head', choices=('head', 'features'))
  parser.add_argument('--train_mode', default='topT')
  parser.add_argument('--users', type=int, default=480, help='global batch of users')
  parser.add_argument('--unique', default='',
                      help='comma-separated distinct clips per step (default users*11)')
  parser.add_argument('--frames', type=int, default=5)
  parser.add_argument('--size', type=int, default=224)
  parser.add_argument('--hidden', type=int, default=512)
  parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'))
  parser.add_argument('--remat', default='both', choices=('off', 'on', 'both'),
                      help='config.model.encoder.remat')
  parser.add_argument('--devices', type=int, default=8, help='size of the data mesh axis')
  parser.add_argument('--items', type=int, default=20000, help='catalogue size (logQ table)')
  args = parser.parse_args()
  if args.devices > jax.device_count():
    parser.error(f'--devices {args.devices} > {jax.device_count()} devices; raise '
                 '--xla_force_host_platform_device_count in XLA_FLAGS')
  uniques = [int(u) for u in args.unique.split(',')] if args.unique else [
      args.users * common.SLOTS]
  remats = {'off': [False], 'on': [True], 'both': [False, True]}[args.remat]
  data = common.synthetic_data(args.users, args.items)

  print(f'{args.encoder} {args.train_mode} ({args.output} output), {args.users} users x '
        f'{common.SLOTS} slots, {args.frames}x{args.size}x{args.size} uint8 clips, '
        f'D={args.hidden}, {args.dtype}, data mesh of {args.devices} '
        f'{jax.devices()[0].platform} devices, jax {jax.__version__}')
  print()
  results = []
  for unique in uniques:
    for remat in remats:
      results.append(_compile(args, data, remat, unique))
      r = results[-1]
      print(f'compiled: unique {r["unique"]}, remat {remat}: build {r["build_s"]:.0f} s, '
            f'lower {r["lower_s"]:.0f} s, compile {r["compile_s"]:.0f} s', flush=True)
  print()
  print('FLOPs: `lowered.cost_analysis()` is the whole global step before partitioning; '
        '`compiled.cost_analysis()` is one device\'s partitioned program. Sizes in GiB per '
        'device; total = argument + output - aliased (donated state) + temp + code.')
  print()
  common.print_table(
      ['distinct clips', 'remat', 'TFLOP/step (global)', 'TFLOP/device', 'argument', 'output',
       'alias', 'temp', 'code', 'total'],
      [[r['unique'], 'on' if r['remat'] else 'off', f'{r["global_flops"] / 1e12:.3f}',
        f'{r["device_flops"] / 1e12:.3f}'] +
       [common.gib(r['memory'][k]) for k in ('argument', 'output', 'alias', 'temp',
                                            'generated_code', 'total')] for r in results])
  print()
  print(f'Fits (per-device total vs HBM; {args.devices} devices, '
        f'{args.users // args.devices} users each):')
  print()
  common.print_table(
      ['distinct clips', 'remat', 'GiB/device'] + list(HBM_GIB),
      [[r['unique'], 'on' if r['remat'] else 'off', common.gib(r['memory']['total'])] +
       ['yes' if r['memory']['total'] <= gib * 2**30 else 'no' for gib in HBM_GIB.values()]
       for r in results])


if __name__ == '__main__':
  main()
