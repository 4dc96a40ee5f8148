"""Feature-extraction throughput: items/s of frozen encoders at 5x224x224, and what it implies.

  python -m benchmarks.extract_throughput [--encoders videomae_b,slowfast_r50] [--chunk 4]

Runs what `jaxlens extract` runs per chunk (eval-mode forward of uint8 clips, with
random weights) on this machine's devices, after one warm-up chunk, and reports items/s. XLA's
FLOP count of the chunk (of the program before CPU-specific rewrites) turns into an estimate
for all MicroLens-100K items on an accelerator at its dense bf16 peak and at a stated model FLOP
utilisation: an estimate, not a measurement, and one that leaves out the input: decoding each
item's 5 JPEG frames, which Grain spreads over worker processes, then likely dominates.
"""

from __future__ import annotations

import argparse
import os

from jaxlens import launch

launch.prefer_onednn_convolutions()  # as jaxlens extract

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position

from benchmarks import videorec_common as common  # pylint: disable=wrong-import-position
from jaxlens.extract import encoder_features  # pylint: disable=wrong-import-position
from jaxlens.train import chips  # pylint: disable=wrong-import-position

ITEMS_100K = 19_738
MFU = 0.4  # an assumed model FLOP utilisation for the estimate
CHIPS = [chip for chip in chips.CHIPS.values() if chip.name in ('H100', 'TPU v5e', 'TPU v5p')]


def measure(encoder: str, chunk: int, frames: int, size: int, iters: int) -> dict:
  settings = encoder_features.EncoderSettings(encoder, 'random', num_frames=frames,
                                              frame_size=size)
  forward, state = encoder_features.frozen_forward(settings)
  forward = jax.jit(forward)
  clips = jax.random.bits(jax.random.key(0), (chunk, frames, size, size, 3), jnp.uint8)
  flops = common.flops(forward.lower(state, clips).cost_analysis())
  seconds = common.median(common.timed(
      lambda: jax.block_until_ready(forward(state, clips)), warmup=1, iters=iters))
  return {'items_per_second': chunk / seconds, 'gflops_per_item': flops / chunk / 1e9}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--encoders', default='videomae_b,slowfast_r50')
  parser.add_argument('--chunk', type=int, default=4)
  parser.add_argument('--frames', type=int, default=5)
  parser.add_argument('--size', type=int, default=224)
  parser.add_argument('--iters', type=int, default=3)
  args = parser.parse_args()
  print(f'devices: {jax.device_count()} x {jax.devices()[0].device_kind}; load: '
        f'{os.getloadavg()[0]:.1f} (1 min)')
  rows = []
  for encoder in args.encoders.split(','):
    result = measure(encoder, args.chunk, args.frames, args.size, args.iters)
    items_per_second, gflops = result['items_per_second'], result['gflops_per_item']
    estimate = lambda chip, mfu: ITEMS_100K * gflops * 1e9 / (chip.peak_tflops * 1e12 * mfu)
    rows.append([encoder, f'{gflops:.1f}', f'{items_per_second:.2f}',
                 f'{ITEMS_100K / items_per_second / 3600:.1f} h'] +
                [f'{estimate(chip, 1.0):.1f} s / {estimate(chip, MFU):.1f} s' for chip in CHIPS])
  common.print_table(['encoder', 'GFLOPs/item', 'items/s here', '100K items here'] +
                     [f'100K on one {chip.name} (peak / {MFU:.0%} MFU)' for chip in CHIPS], rows)


if __name__ == '__main__':
  main()
