"""`train_and_evaluate(config, workdir)`: the whole run, top to bottom.

Config resolved and checked -> data -> workdir -> mesh, model, evaluation -> resume -> steps with
periodic actions (log and divergence check, validation and checkpoint at each epoch's end,
preemption) -> the best checkpoint evaluated on valid and test -> `results.json`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import time
from typing import Any, Callable

import jax
import numpy as np
import tqdm
from absl import logging
from flax import nnx
from jax.experimental import multihost_utils

from jaxlens import logs, paths, sharding
from jaxlens.data import clip_table
from jaxlens.data import interactions as interactions_lib
from jaxlens.data import pipeline, sharded, tasks
from jaxlens.data.protocol import Interactions
from jaxlens.errors import Diverged, Preempted
from jaxlens.eval.evaluation import Evaluation
from jaxlens.models import factory, item_towers, user_towers
from jaxlens.train import configuration, losses, workdir_lock
from jaxlens.train import optimizer as optimizer_lib
from jaxlens.train.checkpoint import Checkpoints, RunState, is_better
from jaxlens.train.step import Trainer
from jaxlens.train.summary import Summary


class _Preemption:
  """Turns SIGTERM into a flag the loop checks between steps (then saves and stops), for the
  duration of training; the previous handler comes back afterwards.

  Only for a single process: with several, JAX's distributed runtime receives SIGTERM and every
  process reaches the same preemption sync point (`Checkpoints.reached_preemption`), so all
  save the same step.
  """

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    if jax.process_count() == 1:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning('SIGTERM received: saving a checkpoint and stopping')
    self.requested = True


@contextlib.contextmanager
def _stop_on_sigterm(where: str):
  """SIGTERM raises `Preempted` at once, in phases that save nothing (setup, the final
  evaluation): the next start redoes them. The training steps' `_Preemption` overrides this
  while it runs. Single process only, as `_Preemption`."""

  def handle(signum, frame):
    del signum, frame
    raise Preempted(f'stopped {where}; run the same command to resume')

  previous = signal.signal(signal.SIGTERM, handle) if jax.process_count() == 1 else None
  try:
    yield
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)


def unique_bucket(config, mesh) -> int:
  """Granularity of a batch's distinct-clip count: 1/16 of the worst case, split evenly over
  the data axis, so a run compiles two or three shapes rather than one per step."""
  devices = sharding.axis_size(mesh, config.mesh.rules, 'batch')
  worst = config.train.batch_size * (config.data.max_seq_len + 1)
  return -(-max(worst // 16, 1) // devices) * devices


def build_trainer(config, data: Interactions, mesh, *, new_run: bool = False,
                  clip_table: jax.Array | jax.ShapeDtypeStruct | None = None,
                  abstract: bool = False) -> Trainer:
  """`new_run`: the item tower loads what a run starts from (pretrained weights); a resumed run
  restores its trained ones instead. `abstract`: the state is shapes and layouts only, never
  allocated, for compiling ahead of time on devices that need not exist (a TPU topology)."""
  rules = config.mesh.rules
  task = tasks.get(user_towers.REGISTRY.get(config.model.user_tower).task)
  steps = pipeline.steps_per_epoch(len(task.rows(data)), config.train.batch_size)
  item_spec = item_towers.REGISTRY.get(config.model.item_tower)
  loss = losses.REGISTRY.get(config.loss.name)
  options = loss.options(config)
  with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
    build = lambda: factory.build_model(config, data, layout=sharding.Layout(mesh, rules),
                                        rngs=nnx.Rngs(config.seed))
    model = nnx.eval_shape(build) if abstract else build()
    if new_run and item_spec.start is not None and not abstract:
      item_spec.start(model.item_tower, config)
    sharding.place(model, mesh, rules)
    log_pop = (np.zeros(data.num_items + 1, np.float32) if options.popularity_power is None
               else data.log_popularity(options.popularity_power))
    trainer = Trainer(
        model, optimizer_lib.make_optimizer(config.optim, steps * config.train.epochs),
        loss=loss, task=task,
        log_popularity=np.pad(log_pop, (0, model.item_tower.vocab_size - len(log_pop))),
        num_items=data.num_items, negatives_group=options.negatives_group,
        clip_table=clip_table)
  trainer.compile(sharding.batch_sharding(mesh, rules))
  return trainer


def build_evaluation(config, data: Interactions, trainer: Trainer, mesh, clips=None,
                     show_progress: bool = True) -> Evaluation:
  """`clips`: a host `ClipStore` when the clips are decoded per batch (the trainer's clip table,
  if any, serves evaluation too)."""
  """Evaluation over a graph built in `eval.dtype` that takes the trainer's states."""
  with jax.set_mesh(mesh), nnx.logical_axis_rules(config.mesh.rules):
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: factory.build_model(
        config, data, layout=sharding.Layout(mesh, config.mesh.rules), rngs=nnx.Rngs(0),
        dtype=factory.dtype_of(config.eval.dtype))))
  shardings = jax.tree.map(lambda x: x.sharding, trainer.state.model_states())
  encodes = bool(item_towers.REGISTRY.get(config.model.item_tower).batch_inputs)
  return Evaluation(graphdef, shardings, data=data, eval_config=config.eval, mesh=mesh,
                    rules=config.mesh.rules, process=_process(), encodes=encodes, clips=clips,
                    clip_table=trainer.clip_table, show_progress=show_progress)


def _process() -> pipeline.ProcessSlice:
  return pipeline.ProcessSlice(jax.process_index(), jax.process_count())


@dataclasses.dataclass
class Run:
  """What a run is made of, once set up."""

  config: object
  workdir: str
  data: Interactions
  trainer: Trainer
  evaluation: Evaluation
  checkpoints: Checkpoints
  rows: tasks.TrainRows  # training rows an epoch (users, or interactions for pair and history)
  layout: pipeline.BatchLayout
  steps_per_epoch: int
  batch_sharding: object
  summary: Summary
  is_main: bool


def clips_on_device(config, clip_shape, num_items: int, mesh, memory: int | None = None) -> bool:
  """Whether a run keeps the clips on the mesh's devices (`config.data.clip_store`); 'auto'
  weighs each device's share against `memory`, by default what this process's devices report."""
  return clip_table.on_device(config.data.clip_store, clip_shape, num_items,
                              sharding.axis_size(mesh, config.mesh.rules, 'batch'),
                              memory or clip_table.device_memory(mesh))


def clips_of(config, data: Interactions, mesh, is_main: bool):
  """(host store, device table) of a video tower's clips, one of them set; (None, None) for
  towers without per-item inputs. Says which path at the start of the run."""
  if not item_towers.REGISTRY.get(config.model.item_tower).batch_inputs:
    return None, None
  store = interactions_lib.clip_store(config.data, data)
  data_axis = sharding.mesh_axis(config.mesh.rules, 'batch')
  size = clip_table.table_bytes(store.clip_shape, data.num_items) / 1e9
  if clips_on_device(config, store.clip_shape, data.num_items, mesh):
    if is_main:
      print(f'clips: on the devices ({size:.2f} GB, split over the {data_axis} axis); batches '
            'carry item ids', flush=True)
    return None, clip_table.load(store, data.num_items, mesh, data_axis)
  if is_main:
    print(f'clips: decoded on the host for each batch ({size:.2f} GB in all; '
          f'data.clip_store={config.data.clip_store})', flush=True)
  return store, None


def setup(config, workdir: str) -> Run:
  """Everything a run of a prepared config (`configuration.prepare`) in a usable workdir
  (`configuration.check_workdir`) needs, inputs checked before the workdir is written."""
  configuration.check_resume(config, workdir)
  task = tasks.get(user_towers.REGISTRY.get(config.model.user_tower).task)
  data = interactions_lib.load(config.data, rows_by_user=task.name == 'sequence')
  configuration.check_data(config, data)
  is_main = jax.process_index() == 0
  if is_main:
    warm = config.data.min_item_interactions
    print(f'data: {data.num_users:,} users, {data.num_items:,} items, '
          f'{data.num_interactions:,} interactions after the protocol'
          + (f' (warm-{warm}: items with fewer interactions removed first)' if warm > 1 else '')
          + ('; each process reads its users on demand'
             if isinstance(data, sharded.ShardedInteractions) else ''), flush=True)
  paths.resolve(workdir).mkdir(parents=True, exist_ok=True)
  logging.info('log of %s', logs.to_file(workdir, jax.process_index()))
  cache = configuration.compilation_cache(config, workdir, jax.default_backend())
  if cache:
    jax.config.update('jax_compilation_cache_dir', cache)
  if is_main:
    configuration.save(config, workdir)
  mesh = sharding.make_mesh(config.mesh)
  clips, table = clips_of(config, data, mesh, is_main)
  checkpoints = Checkpoints(workdir)
  trainer = build_trainer(config, data, mesh, new_run=not checkpoints.has_any(),
                          clip_table=table)
  rows = trainer.task.rows(data)
  process = _process()
  local = process.local_size(config.train.batch_size)
  logging.info('process %d of %d loads rows %d-%d of every global batch of %d', process.index,
               process.count, process.index * local, (process.index + 1) * local - 1,
               config.train.batch_size)
  layout = plan_shapes(config, trainer, rows, pipeline.BatchLayout(
      trainer.task, data.num_items, negatives=trainer.loss.needs_negatives, clips=clips,
      clips_on_device=table is not None, clip_multiple=unique_bucket(config, mesh),
      clip_shards=1 if table is None else clip_table.shards_of(table)))
  return Run(config, workdir, data, trainer,
             build_evaluation(config, data, trainer, mesh, clips, show_progress=is_main),
             checkpoints, rows, layout,
             pipeline.steps_per_epoch(len(rows), config.train.batch_size),
             sharding.batch_sharding(mesh, config.mesh.rules), Summary(workdir, is_main),
             is_main)


def _global_count(local: np.ndarray) -> np.ndarray:
  """Counts over global batches from every process's counts of its slices."""
  if jax.process_count() == 1:
    return np.asarray(local)
  return np.sum(multihost_utils.process_allgather(np.asarray(local)), axis=0)


def plan_shapes(config, trainer: Trainer, rows: tasks.TrainRows,
                layout: pipeline.BatchLayout) -> pipeline.BatchLayout:
  """A run of at most `pipeline.PLANNED_BATCHES` steps pads every batch to the largest query and
  distinct-item counts of its first batches (`pipeline.planned_counts`; the trainer's query
  floor, and the layout returned): one step shape, where each batch's own bucket would compile
  several within a few steps. A longer run keeps the buckets, which pad less at every step."""
  steps = pipeline.steps_per_epoch(len(rows), config.train.batch_size) * config.train.epochs
  if steps > pipeline.PLANNED_BATCHES:
    return layout
  process = _process()
  counts = _global_count(pipeline.planned_counts(rows, layout, config.train.batch_size,
                                                 config.seed, process))
  positions, distinct = (int(count) for count in counts.max(axis=0))
  trainer.position_floor = trainer.position_bound(config.train.batch_size, positions)
  floor = pipeline.padded_length(distinct, layout.clip_multiple * process.count)
  logging.info('batch shapes planned from %d batches: %d queries%s', len(counts),
               trainer.position_floor, f', {floor} distinct items' if layout.distinct else '')
  return dataclasses.replace(layout, distinct_floor=floor if layout.distinct else 0)


def _first_nonfinite(pending: list[tuple[int, dict]]) -> tuple[int, str, float] | None:
  """(step, metric, value) of the first non-finite loss or gradient norm among `pending`."""
  for step, metrics in jax.device_get(pending):
    for name in ('loss', 'grad_norm'):
      if not np.isfinite(metrics[name]):
        return step, name, float(metrics[name])
  return None


class _Loop:
  """The periodic actions of training; `run()` drives them step by step."""

  def __init__(self, run: Run, state: RunState, session_start: float):
    self.run, self.state = run, state
    self._resumed_elapsed = state.elapsed
    self._session_start = session_start
    self._pending: list[tuple[int, dict]] = []  # step metrics not yet checked for divergence
    self._profile = configuration.profile_steps(run.config)
    self._tracing = False
    self._preemption = _Preemption()  # installed while `run_training` runs
    self._epoch_start = time.time()
    config = run.config
    self._batches = iter(pipeline.train_dataset(
        run.rows, run.layout, config.train.batch_size, config.train.epochs, config.seed,
        _process(), start_step=int(run.trainer.state.step),
        options=pipeline.ReadOptions(**config.data.loader)))

  def _elapsed(self) -> float:
    return self._resumed_elapsed + time.time() - self._session_start

  def _check_finite(self) -> None:
    """Stops at the first non-finite loss or gradient norm, before anything saves it."""
    bad = _first_nonfinite(self._pending)
    self._pending = []
    if bad is not None:
      bad_step, name, value = bad
      epoch = (bad_step - 1) // self.run.steps_per_epoch + 1
      latest = (os.path.join(self.run.checkpoints.directory, str(self.state.saved_step))
                if self.state.saved_step else 'none (nothing was saved)')
      raise Diverged(f'{"loss" if name == "loss" else "gradient norm"} became {value} at step '
                     f'{bad_step} (epoch {epoch}); last good checkpoint: {latest}')

  def _log(self, step: int, metrics: dict, bar: tqdm.tqdm) -> None:
    loss = float(metrics['loss'])
    bar.set_postfix(loss=f'{loss:.4f}')
    self.run.summary.scalars(step, {'train/loss': loss,
                                    'train/grad_norm': float(metrics['grad_norm']),
                                    'train/steps_per_second': bar.format_dict['rate'] or 0.0})

  def _save(self, step: int) -> None:
    self.state.elapsed = self._elapsed()
    self.state.saved_step = step
    self.run.checkpoints.save(step, self.run.trainer.state, self.state)

  def _preempted(self, step: int) -> bool:
    return self._preemption.requested or self.run.checkpoints.reached_preemption(step)

  def _stop(self, step: int, saved: bool) -> None:
    """Saves (unless the epoch's end just did) and stops for preemption."""
    if not saved:
      self._check_finite()
      self._save(step)
    self.run.checkpoints.wait()
    raise Preempted(f'stopped at step {step} after saving a checkpoint; run the same command '
                    'to resume')

  def _end_epoch(self, step: int) -> None:
    run, config, state = self.run, self.run.config, self.state
    jax.block_until_ready(run.trainer.state)
    epoch = step // run.steps_per_epoch
    state.train_seconds += time.time() - self._epoch_start
    state.epoch = epoch
    if epoch % config.eval.every_epochs == 0 or epoch == config.train.epochs:
      eval_start = time.time()
      valid = run.evaluation.run(run.trainer.state.model_states(), 'valid')
      state.eval_seconds += time.time() - eval_start
      state.history.append({'epoch': epoch, 'elapsed_seconds': self._elapsed(), 'valid': valid})
      run.summary.scalars(step, {f'valid/{k}': v for k, v in valid.items()})
      select = valid[config.eval.select_metric]
      if is_better(select, state.best):
        state.best, state.stale = {'epoch': epoch, 'step': step, 'value': select,
                                   'valid': valid}, 0
      else:
        state.stale += 1
      if run.is_main:
        tqdm.tqdm.write(f'epoch {epoch}: valid ' +
                        ' '.join(f'{k}={v:.4f}' for k, v in valid.items()))
    self._save(step)
    self._epoch_start = time.time()

  def _trace(self, step: int) -> None:
    """Starts or stops the `profile_steps` trace before step `step` + 1 runs."""
    if self._profile is None:
      return
    start, count = self._profile
    if step == start:
      jax.profiler.start_trace(os.fspath(paths.resolve(self.run.workdir) / 'profile'))
      self._tracing = True
    elif step == start + count:
      self._end_trace()

  def _end_trace(self) -> None:
    if self._tracing:
      jax.block_until_ready(self.run.trainer.state)
      jax.profiler.stop_trace()
      self._tracing = False
      logging.info('profile written to %s/profile', self.run.workdir)

  def _stopped_early(self) -> bool:
    patience = self.run.config.train.patience
    return bool(patience) and self.state.stale >= patience

  def _train_epoch(self, step: int) -> int:
    """Steps to the end of the current epoch; returns the step reached."""
    run, config = self.run, self.run.config
    epoch = step // run.steps_per_epoch + 1
    with tqdm.tqdm(total=run.steps_per_epoch, initial=step % run.steps_per_epoch,
                   disable=not run.is_main, desc=f'epoch {epoch}/{config.train.epochs}',
                   unit='step', leave=False) as bar:
      while True:
        self._trace(step)
        batch = next(self._batches)
        num_positions = int(_global_count(batch.pop(pipeline.NUM_POSITIONS)))
        metrics = run.trainer.run_train_step(sharding.global_batch(batch, run.batch_sharding),
                                             num_positions)
        step += 1
        self._pending.append((step, metrics))
        bar.update()
        epoch_end = step % run.steps_per_epoch == 0
        if step % config.train.log_every_steps == 0 or epoch_end:
          self._check_finite()
          self._log(step, metrics, bar)
        if epoch_end:  # validated and saved before any stop
          return step
        if self._preempted(step):
          self._stop(step, saved=False)

  def run_training(self) -> None:
    total = self.run.steps_per_epoch * self.run.config.train.epochs
    step = int(self.run.trainer.state.step)
    with self._preemption:
      try:
        while step < total and not self._stopped_early():
          step = self._train_epoch(step)
          self._end_epoch(step)
          if self._preempted(step):
            self._stop(step, saved=True)
      finally:
        self._end_trace()


def validated_steps(config, state: RunState, steps_per_epoch: int) -> dict[int, float]:
  """Step -> the selection metric of every validation `state` records (they come at epochs'
  ends): what `Checkpoints.restore_best` falls back on."""
  metric = config.eval.select_metric
  return {entry['epoch'] * steps_per_epoch: entry['valid'][metric] for entry in state.history}


def _results(run: Run, state: RunState) -> dict:
  """The best checkpoint evaluated on valid and test."""
  run.checkpoints.wait()
  best = run.checkpoints.restore_best(run.trainer.state, state,
                                      validated_steps(run.config, state, run.steps_per_epoch),
                                      held=True)
  run.trainer.state = best.state
  states = run.trainer.state.model_states()
  eval_start = time.time()
  valid = run.evaluation.run(states, 'valid')
  test = run.evaluation.run(states, 'test', run.config.eval.evaluators)
  breakdowns = {name: test.pop(name) for name in run.config.eval.evaluators}
  evaluations = len(state.history)
  return {
      'valid': valid, 'test': test, 'test_cold': breakdowns.get('cold'),
      'best_epoch': best.epoch,  # the epoch evaluated
      'best_fallback': best.fallback,  # why it is not the recorded best (None: it is)
      'epoch_seconds': state.train_seconds / max(state.epoch, 1),
      'train_sequences_per_second': len(run.rows) * state.epoch / max(state.train_seconds, 1e-9),
      'eval_seconds': (state.eval_seconds / evaluations if evaluations
                       else time.time() - eval_start),
      'history': state.history,
      'breakdowns': breakdowns,
      'data': {'users': run.data.num_users, 'items': run.data.num_items,
               'interactions': run.data.num_interactions},
  }


def train_and_evaluate(config, workdir: str,
                       ensure_data: Callable[[Any], None] | None = None) -> dict:
  """Trains and tests one config; raises `Preempted` (resumable) or `Diverged`.

  The config is resolved and checked here, once, before anything is read; `ensure_data(config)`
  then makes sure its dataset exists (the command line builds the synthetic toy subset). The
  workdir is locked from setup to results: a second run on it stops with one line.
  """
  with _stop_on_sigterm('during the setup'):
    config = configuration.prepare(config)
    if jax.process_index() == 0:
      print(f'config (resolved):\n{configuration.summary(config)}', flush=True)
    if ensure_data is not None:
      ensure_data(config)
    configuration.check_workdir(workdir)  # before the lock creates the workdir
  with workdir_lock.held(workdir):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir: str) -> dict:
  session_start = time.time()
  with _stop_on_sigterm('during the setup'):
    run = setup(config, workdir)
  try:
    with _stop_on_sigterm('during the setup'):
      restored = run.checkpoints.restore_latest(run.trainer.state)
    state = RunState()
    if restored is not None:
      run.trainer.state, state = restored
      logging.info('resumed from step %d (epoch %d)', int(run.trainer.state.step), state.epoch)
    _Loop(run, state, session_start).run_training()
    with _stop_on_sigterm('during the final evaluation'):
      results = _results(run, state)
  finally:
    run.summary.close()
  if run.is_main:
    paths.write_json(paths.resolve(workdir) / 'results.json', results)
    fallback = results['best_fallback']
    print('test ' + ' '.join(f'{k}={v:.4f}' for k, v in results['test'].items()) +
          f' (best epoch {results["best_epoch"]}' +
          (f': the recorded best, epoch {fallback["recorded_epoch"]}, has no usable checkpoint; '
           'see best_fallback in results.json' if fallback else '') + ')')
  return results
