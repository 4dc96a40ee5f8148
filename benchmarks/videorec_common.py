"""Shared pieces of the VideoRec and VIDRec benchmarks (`benchmarks/videorec_*.py`, `vidrec_*.py`).

A SASRec_V config at a chosen size, a jaxlens Trainer on a `data` mesh, synthetic batches (as
arrays on the devices or as abstract `jax.ShapeDtypeStruct`s for ahead-of-time lowering), XLA's
cost and memory figures, step timing, markdown tables, and runs read back once finished (the
IDRec table, `idrec_50k`, too). Not a script; the benchmarks import it as
`benchmarks.videorec_common`.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlens import default_config, sharding
from jaxlens.data import synthetic
from jaxlens.data.pipeline import CLIP_ITEMS, CLIPS
from jaxlens.train import aot, configuration, loop

MAX_SEQ_LEN = 10  # as the reference's run_video.py: 10 inputs, so 11 slots per user
SLOTS = MAX_SEQ_LEN + 1


def videorec_config(encoder: str, *, users: int, frames: int, size: int, hidden: int = 512,
                    dtype: str = 'float32', remat: bool = False, train_mode: str = 'topT',
                    output: str = 'head'):
  """The paper's SASRec_V setting (`configs/sasrec_v.py`) with the given sizes; the encoder is
  randomly initialised (benchmarks measure cost, not accuracy)."""
  config = default_config.load('sasrec_v')
  config.model.encoder.update(name=encoder, output=output, train_mode=train_mode, remat=remat,
                              init_from='' if train_mode == 'scratch' else 'random')
  config.model.dtype = dtype
  config.model.hidden = hidden
  config.data.max_seq_len = MAX_SEQ_LEN
  config.data.num_frames, config.data.frame_size = frames, size
  config.train.batch_size = users
  config.train.epochs = 1
  return configuration.resolve(config)


def synthetic_data(users: int, items: int, seed: int = 0):
  """`Interactions` of `users` synthetic sequences over `items` items."""
  return synthetic.sequential_interactions(users=users, items=items, seed=seed,
                                        max_seq_len=MAX_SEQ_LEN)


def build(config, data, num_devices: int):
  """`(trainer, mesh, batch_sharding)`: `loop.build_trainer` on a `data` mesh of the first
  `num_devices` devices."""
  config.mesh.data, config.mesh.model = num_devices, 1
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:num_devices])
  trainer = loop.build_trainer(config, data, mesh)
  return trainer, mesh, sharding.batch_sharding(mesh, config.mesh.rules)


def full_positions(users: int) -> int:
  """The static position bound `Trainer.run_train_step` gives a batch with no padding."""
  return users * MAX_SEQ_LEN


def full_batch(users: int, unique: int, multiple: int, num_items: int) -> dict[str, np.ndarray]:
  """Every slot a real item, `unique` distinct clips (`jaxlens.train.aot.full_batch`)."""
  return aot.full_batch(users, SLOTS, num_items, unique, multiple)


def batch_structs(batch: dict[str, np.ndarray], clip_shape: Sequence[int], sharding):
  """Abstract batch (`jax.ShapeDtypeStruct` with the batch sharding): nothing is materialised."""
  return aot.abstract(batch, sharding, clip_shape, clips_on_device=False)


def device_batch(batch: dict[str, np.ndarray], clip_shape: Sequence[int], sharding, seed=0):
  """The batch on the devices; random uint8 clips are drawn there, never on the host."""
  batch = dict(batch)
  shape = (len(batch.pop(CLIP_ITEMS)),) + tuple(clip_shape)
  draw = jax.jit(lambda key: jax.random.bits(key, shape, jnp.uint8), out_shardings=sharding)
  batch = {name: jax.device_put(value, sharding) for name, value in batch.items()}
  batch[CLIPS] = draw(jax.random.key(seed))
  return batch


def timed(run: Callable[[], None], warmup: int, iters: int) -> list[float]:
  """Seconds of each of `iters` calls of `run` (which must block) after `warmup` calls."""
  for _ in range(warmup):
    run()
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return times


def median(values: Sequence[float]) -> float:
  return statistics.median(values)


def gib(n: float) -> str:
  return f'{n / 2**30:.2f}'


def print_table(headers: Sequence[str], rows: Sequence[Sequence], align: str = '') -> None:
  """A markdown table; `align` per column: 'l' or 'r' (default: first left, others right)."""
  align = align or 'l' + 'r' * (len(headers) - 1)
  print('| ' + ' | '.join(headers) + ' |')
  print('|' + '|'.join('---' if a == 'l' else '---:' for a in align) + '|')
  for row in rows:
    print('| ' + ' | '.join(str(v) for v in row) + ' |', flush=True)


def results_of(config, workdir: str) -> dict:
  """A finished run's `results.json`, read back; otherwise the run (resuming its checkpoints)."""
  path = os.path.join(workdir, 'results.json')
  if os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  return loop.train_and_evaluate(config, workdir)
