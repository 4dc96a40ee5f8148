"""Video encoders: parameters, XLA GFLOPs per clip, training-mode clips/s for jaxlens and PyTorch.

Iterates the registry (every family registered by `import jaxlens.models.video`). Both sides use
the same weights (the PyTorch original's, converted) and the same input; a step is forward +
backward of mean(output) in training mode (batch statistics, dropout active). Prints a markdown
table. Figures on a shared CPU are noisy; on TPU/GPU the convolutions go to the MXU/cuDNN.

  python -m benchmarks.video_encoders --encoders x3d_s,slowfast_r50 --batch 2 --frames 5 --size 224
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxlens.models.video  # pylint: disable=unused-import
from jaxlens.convert.pretrained import load_torch
from jaxlens.models.video import registry
import torch_references.video as torch_reference


def _train_view(model: nnx.Module) -> nnx.Module:
  return nnx.view(model, deterministic=False, use_running_average=False,
                  raise_if_not_found=False)


def _jax_train_step(model: nnx.Module):
  """A pure `jax.jit` step over split states: the fastest hot loop on CPU (`nnx.jit` adds Python
  work to every step)."""
  graphdef, params, rest = nnx.split(_train_view(model), nnx.Param, ...)

  @jax.jit
  def step(params, rest, clips):

    def loss(p):
      module = nnx.merge(graphdef, p, rest, copy=True)
      return jnp.mean(module(clips)), nnx.state(module, nnx.Not(nnx.Param))

    (_, new_rest), grads = jax.value_and_grad(loss, has_aux=True)(params)
    return grads, new_rest

  return step, params, rest


def _gflops_per_clip(model: nnx.Module, clips: jax.Array) -> float:
  """Forward FLOPs as XLA counts them for the compiled eval-mode program."""
  view = nnx.view(model, deterministic=True, use_running_average=True, raise_if_not_found=False)
  graphdef, state = nnx.split(view)
  forward = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))
  cost = forward.lower(state, clips).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return cost['flops'] / clips.shape[0] / 1e9


def _time(run, warmup: int, iters: int) -> float:
  for _ in range(warmup):
    run()
  start = time.perf_counter()
  for _ in range(iters):
    run()
  return (time.perf_counter() - start) / iters


def _torch_clips_per_second(reference, clips: np.ndarray, args) -> float:
  reference.train()
  torch_clips = torch_reference.channels_first(clips)

  def torch_run():
    reference.zero_grad(set_to_none=True)
    reference(torch_clips).mean().backward()

  return args.batch / _time(torch_run, args.warmup, args.iters)


def _benchmark(name: str, args) -> dict[str, float]:
  """One row; without a PyTorch reference (tiny_c3d) the jaxlens encoder is randomly initialised
  and the PyTorch columns are blank."""
  spec = registry.get(name)
  shape_options = spec.shape_kwargs(args.frames, args.size)
  reference = None
  if name in torch_reference.REFERENCES:
    import torch  # pylint: disable=g-import-not-at-top
    torch.manual_seed(0)
    reference = torch_reference.build(name, args.frames, args.size)
    model = load_torch(spec, torch_reference.state_dict(reference), rngs=nnx.Rngs(0),
                       **shape_options)
  else:
    model = spec.build(output='head', rngs=nnx.Rngs(0), **shape_options)
  clips = np.random.default_rng(0).standard_normal(
      (args.batch, args.frames, args.size, args.size, 3)).astype(np.float32)
  params = sum(int(np.prod(v.get_value().shape))
               for _, v in nnx.to_flat_state(nnx.state(model, nnx.Param)))
  gflops = _gflops_per_clip(model, jnp.asarray(clips))

  step, p, rest = _jax_train_step(model)
  jax_clips = jnp.asarray(clips)

  def jax_run():
    nonlocal rest
    grads, rest = step(p, rest, jax_clips)
    jax.block_until_ready(grads)

  jax_seconds = _time(jax_run, args.warmup, args.iters)
  torch_speed = (_torch_clips_per_second(reference, clips, args) if reference is not None
                 else float('nan'))
  return {'params': params / 1e6, 'gflops': gflops, 'jax': args.batch / jax_seconds,
          'torch': torch_speed}


def _fmt(value: float) -> str:
  return '–' if np.isnan(value) else f'{value:.2f}'


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--encoders', default='',
                      help='comma-separated registry names (default: every registered encoder)')
  parser.add_argument('--batch', type=int, default=2)
  parser.add_argument('--frames', type=int, default=5)
  parser.add_argument('--size', type=int, default=224)
  parser.add_argument('--warmup', type=int, default=1)
  parser.add_argument('--iters', type=int, default=2)
  args = parser.parse_args()
  names = args.encoders.split(',') if args.encoders else registry.names()
  print(f'batch {args.batch}, {args.frames}x{args.size}x{args.size}, forward+backward in training '
        f'mode, {args.iters} timed step(s) after {args.warmup} warm-up, '
        f'{jax.devices()[0].platform}, XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}')
  print()
  print('| encoder | params (M) | GFLOPs/clip (XLA) | jaxlens clips/s | PyTorch clips/s | '
        'jaxlens / PyTorch |')
  print('|---|---:|---:|---:|---:|---:|')
  for name in names:
    row = _benchmark(name, args)
    print(f"| {name} | {row['params']:.2f} | {row['gflops']:.1f} | {_fmt(row['jax'])} | "
          f"{_fmt(row['torch'])} | {_fmt(row['jax'] / row['torch'])} |", flush=True)
  unmatched = [name for name in names if name not in torch_reference.REFERENCES]
  if unmatched:
    print(f"\n–: no PyTorch original for {', '.join(unmatched)} (jaxlens randomly initialised)")


if __name__ == '__main__':
  main()
