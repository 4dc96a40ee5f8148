r"""Train-step and full-ranking times of the CF towers on the real MicroLens-50K file.

  python -m benchmarks.cf_speed_50k [--models dssm,lightgcn,nfm,deepfm] [--steps 20]

Each model at its `configs/<model>.py:cpu` settings (D=64, the paper's batch), randomly
initialised (timing needs no training): the median train step over `--steps` steps after 3
warm-up steps, the steps of an epoch, and one full-ranking evaluation of every test user over
all items, timed after a first (compiling) one. Prints the machine load beside the table: the
2 cores are shared, so compare ratios measured together.
"""

import argparse
import os
import time

import jax
import numpy as np
from absl import logging

from benchmarks import microlens_50k
from jaxlens import sharding
from jaxlens.data import interactions, pipeline
from jaxlens.train import loop


def _step_seconds(trainer, config, data, mesh, steps: int) -> float:
  rows = trainer.task.rows(data)
  layout = pipeline.BatchLayout(trainer.task, data.num_items,
                                negatives=trainer.loss.needs_negatives)
  iterator = iter(pipeline.train_dataset(rows, layout, config.train.batch_size, 1, config.seed))
  batch_sharding = sharding.batch_sharding(mesh, config.mesh.rules)
  times = []
  for i in range(steps + 3):
    batch = next(iterator)
    num_positions = int(batch.pop(pipeline.NUM_POSITIONS))
    start = time.perf_counter()
    jax.block_until_ready(trainer.run_train_step(sharding.global_batch(batch, batch_sharding),
                                                 num_positions))
    if i >= 3:
      times.append(time.perf_counter() - start)
  return float(np.median(times))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default=os.environ.get('MICROLENS_DATA_DIR', ''))
  parser.add_argument('--models', default='dssm,lightgcn,nfm,deepfm')
  parser.add_argument('--steps', type=int, default=20)
  args = parser.parse_args()
  pairs = microlens_50k.pairs_path(args.data_dir)
  logging.set_verbosity(logging.WARNING)
  rows = []
  for name in args.models.split(','):
    config = microlens_50k.config(name, pairs)
    data = interactions.load(config.data)
    mesh = sharding.make_mesh(config.mesh)
    trainer = loop.build_trainer(config, data, mesh)
    step = _step_seconds(trainer, config, data, mesh, args.steps)
    evaluation = loop.build_evaluation(config, data, trainer, mesh, show_progress=False)
    states = trainer.state.model_states()
    evaluation.ranks(states, 'test')  # compiles
    start = time.perf_counter()
    evaluation.ranks(states, 'test')
    steps = pipeline.steps_per_epoch(len(trainer.task.rows(data)), config.train.batch_size)
    rows.append((name, config, step, steps, time.perf_counter() - start, data))
    print(f'{name}: {step * 1e3:.1f} ms/step, eval {rows[-1][4]:.1f} s', flush=True)
  print(f'\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; '
        f'XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}')
  print('\n| model | D | batch | ms/step | steps/epoch | s/epoch (train) | full ranking s '
        '(users x items) |')
  print('|' + '---|' * 7)
  for name, config, step, steps, eval_seconds, data in rows:
    print(f'| {name} | {config.model.hidden} | {config.train.batch_size} | {step * 1e3:.1f} | '
          f'{steps:,} | {step * steps:.0f} | {eval_seconds:.1f} ({data.num_users:,} x '
          f'{data.num_items:,}) |')


if __name__ == '__main__':
  main()
