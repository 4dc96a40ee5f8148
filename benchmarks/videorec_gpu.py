r"""The paper's SASRec_V train step on the available accelerator: step time, clips/s and MFU.

SlowFast-r50 topT with its Kinetics head, 5x224x224 uint8 clips, D=512, bf16 compute
(`config.model.dtype='bfloat16'`, parameters fp32), a global batch of `--users` x 11 slots on a
`data` mesh of every visible device; all slots hold real items, encoded from `--unique` distinct
clips (default: one per slot, the worst case) drawn at random on the devices. The jitted train step
(`Trainer.lower`) is lowered and compiled ahead of time; XLA's cost analysis of the lowered
(global) step gives FLOPs per step, including any remat recomputation. Prints step time, distinct
clips/s and slot-clips/s, and model FLOPs utilisation = FLOPs per step / step time / (peak bf16
FLOP/s per chip x chips). With `--fit`, an out-of-memory compile or first step halves the batch.
XLA_PYTHON_CLIENT_MEM_FRACTION defaults to 0.95 here: an AOT compile for one device
(`videorec_aot.py --devices 1 --dtype bfloat16`) put the 480-user step at ~123 GiB on XLA:CPU.

  python -m benchmarks.videorec_gpu                       # 480 users; ~3-6 min
  python -m benchmarks.videorec_gpu --remat --users 480
  JAX_PLATFORMS=cpu python -m benchmarks.videorec_gpu --users 2 --size 32 \
      --unique 8 --warmup 1 --steps 2 --peak_tflops 0.1 --dtype float32   # CPU check
"""

from __future__ import annotations

import os

# The paper-size step needs most of the chip; XLA's default preallocation is 75% of it.
os.environ.setdefault('XLA_PYTHON_CLIENT_MEM_FRACTION', '0.95')

import argparse  # pylint: disable=g-import-not-at-top,wrong-import-position
import time  # pylint: disable=g-import-not-at-top,wrong-import-position

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from benchmarks import videorec_common as common  # pylint: disable=wrong-import-position
from jaxlens.data.pipeline import CLIP_MASK  # pylint: disable=wrong-import-position
from jaxlens.train import aot, chips  # pylint: disable=wrong-import-position

def peak_flops(device: jax.Device, override_tflops: float | None) -> float | None:
  """Dense bf16 peak FLOP/s of one chip: `--peak_tflops`, or the published figure."""
  if override_tflops:
    return override_tflops * 1e12
  chip = chips.chip_of(device)
  return None if chip is None else chip.peak_tflops * 1e12


def _out_of_memory(error: Exception) -> bool:
  text = str(error)
  return 'RESOURCE_EXHAUSTED' in text or 'Out of memory' in text or 'out of memory' in text


def _run(args, users: int) -> dict:
  """Build, compile and time the step for `users`; raises on out-of-memory."""
  devices = jax.device_count()
  config = common.videorec_config(args.encoder, users=users, frames=args.frames, size=args.size,
                                  hidden=args.hidden, dtype=args.dtype, remat=args.remat,
                                  train_mode=args.train_mode)
  data = common.synthetic_data(users, args.items)
  trainer, _, sharding = common.build(config, data, devices)
  layout = common.full_batch(users, args.unique or users * common.SLOTS, devices,
                                    data.num_items)
  batch = common.device_batch(layout, (args.frames, args.size, args.size, 3), sharding)
  start = time.perf_counter()
  lowered = trainer.lower(batch, common.full_positions(users))
  compiled = lowered.compile()
  compile_s = time.perf_counter() - start
  state = trainer.state
  losses = []

  def step():
    nonlocal state
    state, metrics = compiled(state, batch, trainer.clip_table)
    losses.append(float(metrics['loss']))  # blocks until the step is done

  times = common.timed(step, args.warmup, args.steps)
  memory = [d.memory_stats() or {} for d in jax.local_devices()]
  return {'users': users, 'unique': len(layout[CLIP_MASK]), 'times': times, 'losses': losses,
          'compile_s': compile_s, 'flops': aot.flops(lowered.cost_analysis()),
          'device_flops': aot.flops(compiled.cost_analysis()),
          'device_bytes': aot.cost(compiled.cost_analysis(), 'bytes accessed'),
          'peak_bytes': max((m.get('peak_bytes_in_use', 0) for m in memory), default=0),
          'limit_bytes': max((m.get('bytes_limit', 0) for m in memory), default=0)}


def _estimate(result: dict, device: jax.Device, seconds: float) -> str:
  """The step time `jaxlens aot` predicts for this chip, beside the measured one."""
  chip = chips.chip_of(device)
  if chip is None:
    return f'n/a (no published figures for {device.device_kind})'
  bound = aot.roofline_seconds(result['device_flops'], result['device_bytes'], chip)
  return f'{1e3 * bound:.1f} ms (measured / estimate: {seconds / bound:.2f})'


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--encoder', default='slowfast_r50')
  parser.add_argument('--train_mode', default='topT')
  parser.add_argument('--users', type=int, default=480, help='global batch of users (x 11)')
  parser.add_argument('--unique', type=int, default=0,
                      help='distinct clips per step (default: users*11, every slot)')
  parser.add_argument('--frames', type=int, default=5)
  parser.add_argument('--size', type=int, default=224)
  parser.add_argument('--hidden', type=int, default=512)
  parser.add_argument('--dtype', default='bfloat16', choices=('bfloat16', 'float32'))
  parser.add_argument('--remat', action='store_true', help='config.model.encoder.remat')
  parser.add_argument('--fit', action='store_true',
                      help='halve --users (and --unique) on out-of-memory until it runs')
  parser.add_argument('--items', type=int, default=20000, help='synthetic catalogue size')
  parser.add_argument('--warmup', type=int, default=3)
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--peak_tflops', type=float, default=None,
                      help='peak bf16 TFLOP/s per chip (required if the chip is not in the table)')
  args = parser.parse_args()
  device = jax.devices()[0]
  devices = jax.device_count()
  peak = peak_flops(device, args.peak_tflops)
  if peak is None:
    parser.error(f'unknown chip {device.device_kind!r}: pass --peak_tflops')
  if args.users % devices:
    parser.error(f'--users {args.users} is not divisible by the {devices} devices')

  users = args.users
  while True:
    try:
      result = _run(args, users)
      break
    except Exception as error:  # pylint: disable=broad-except
      if not (args.fit and _out_of_memory(error)) or users // 2 < devices:
        raise
      print(f'{users} users: out of memory; trying {users // 2 // devices * devices}', flush=True)
      users = users // 2 // devices * devices
      args.unique = args.unique // 2

  seconds = common.median(result['times'])
  slot_clips = result['users'] * common.SLOTS
  print(f'{args.encoder} {args.train_mode} (head output), {result["users"]} users x '
        f'{common.SLOTS} slots, {args.frames}x{args.size}x{args.size} uint8 clips, '
        f'D={args.hidden}, {args.dtype} compute, remat {"on" if args.remat else "off"}; '
        f'{devices} x {device.device_kind} ({device.platform}), jax {jax.__version__}; compile '
        f'{result["compile_s"]:.0f} s; median of {args.steps} steps after {args.warmup} warm-up')
  losses = result['losses']
  print(f'loss: first step {losses[0]:.4f}, last step {losses[-1]:.4f}; all finite: '
        f'{bool(np.all(np.isfinite(losses)))}')
  print()
  achieved = result['flops'] / seconds
  rows = [
      ['step time (median / min)', f'{1e3 * seconds:.1f} ms / {1e3 * min(result["times"]):.1f} ms'],
      ['distinct clips encoded / step', result['unique']],
      ['distinct clips / s', f'{result["unique"] / seconds:.1f}'],
      ['slot-clips / s (users x 11 / step time)', f'{slot_clips / seconds:.1f}'],
      ['user sequences / s', f'{result["users"] / seconds:.1f}'],
      ['XLA FLOPs / step (lowered, global)', f'{result["flops"] / 1e12:.3f} T'],
      ['XLA FLOPs / step / device (compiled)', f'{result["device_flops"] / 1e12:.3f} T'],
      ['achieved FLOP/s (all chips)', f'{achieved / 1e12:.3g} T'],
      ['peak bf16 FLOP/s per chip', f'{peak / 1e12:.3g} T'],
      ['MFU', f'{100 * achieved / (peak * devices):.1f} %'],
      ['jaxlens aot estimate (roofline lower bound)', _estimate(result, device, seconds)],
      ['peak device memory in use',
       f'{common.gib(result["peak_bytes"])} GiB of {common.gib(result["limit_bytes"])} GiB'
       if result['limit_bytes'] else 'n/a (no memory_stats on this platform)'],
  ]
  common.print_table(['metric', 'value'], rows, align='lr')


if __name__ == '__main__':
  main()
