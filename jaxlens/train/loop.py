"""`train_and_evaluate(config, workdir)`: the whole run, top to bottom.

Config resolved and checked -> data -> workdir -> mesh, model, evaluation -> resume -> steps with
periodic actions (log and divergence check, validation and checkpoint at each epoch's end,
preemption) -> the best checkpoint evaluated on valid and test -> `results.json`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time

import jax
import numpy as np
import tqdm
from absl import logging
from flax import nnx

from jaxlens import sharding
from jaxlens.data import interactions as interactions_lib
from jaxlens.data import pipeline, tasks
from jaxlens.data.protocol import Interactions
from jaxlens.errors import Diverged, Preempted
from jaxlens.eval.evaluation import Evaluation
from jaxlens.models import factory, item_towers, user_towers
from jaxlens.train import configuration, losses
from jaxlens.train import optimizer as optimizer_lib
from jaxlens.train.checkpoint import Checkpoints, RunState, is_better
from jaxlens.train.step import Trainer
from jaxlens.train.summary import Summary


class _Preemption:
  """Turns SIGTERM into a flag the loop checks between steps (then saves and stops), for the
  duration of training; the previous handler comes back afterwards."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def __exit__(self, *exc):
    signal.signal(signal.SIGTERM, self._previous)

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning('SIGTERM received: saving a checkpoint and stopping')
    self.requested = True


def unique_bucket(config, mesh) -> int:
  """Granularity of a batch's distinct-clip count: 1/16 of the worst case, split evenly over
  the data axis, so a run compiles two or three shapes rather than one per step."""
  devices = sharding.axis_size(mesh, config.mesh.rules, 'batch')
  worst = config.train.batch_size * (config.data.max_seq_len + 1)
  return -(-max(worst // 16, 1) // devices) * devices


def build_trainer(config, data: Interactions, mesh, *, load_pretrained: bool = False) -> Trainer:
  rules = config.mesh.rules
  task = tasks.get(user_towers.REGISTRY.get(config.model.user_tower).task)
  steps = pipeline.steps_per_epoch(len(task.rows(data).user_ids), config.train.batch_size)
  with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
    model = factory.build_model(
        config, data.num_items, data.num_users, rngs=nnx.Rngs(config.seed),
        vocab_multiple=sharding.axis_size(mesh, rules, 'items'))
    if load_pretrained:
      from jaxlens.convert import pretrained  # pylint: disable=g-import-not-at-top
      pretrained.restore_encoder(model.item_tower.content.encoder, config.model.encoder.init_from)
    sharding.place(model, mesh, rules)
    log_pop = data.log_popularity(config.loss.popularity_power)
    trainer = Trainer(
        model, optimizer_lib.make_optimizer(config.optim, steps * config.train.epochs),
        loss=losses.REGISTRY.get(config.loss.name), task=task,
        log_popularity=np.pad(log_pop, (0, model.item_tower.vocab_size - len(log_pop))),
        num_items=data.num_items, negatives_group=configuration.negatives_group(config))
  trainer.compile(sharding.batch_sharding(mesh, rules))
  return trainer


def build_evaluation(config, data: Interactions, trainer: Trainer, mesh, clips=None,
                     show_progress: bool = True) -> Evaluation:
  """Evaluation over a graph built in `eval.dtype` that takes the trainer's states."""
  with jax.set_mesh(mesh), nnx.logical_axis_rules(config.mesh.rules):
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: factory.build_model(
        config, data.num_items, data.num_users, rngs=nnx.Rngs(0),
        vocab_multiple=sharding.axis_size(mesh, config.mesh.rules, 'items'),
        dtype=factory.dtype_of(config.eval.dtype))))
  shardings = jax.tree.map(lambda x: x.sharding, trainer.state.model_states())
  return Evaluation(graphdef, shardings, data=data, eval_config=config.eval, mesh=mesh,
                    rules=config.mesh.rules, process=_process(), clips=clips,
                    show_progress=show_progress)


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
  iterator: object
  num_rows: int  # training rows an epoch (users, or interactions for pair and history tasks)
  steps_per_epoch: int
  batch_sharding: object
  summary: Summary
  is_main: bool


def setup(config, workdir: str) -> Run:
  """Everything a run needs, inputs checked before the workdir is touched."""
  configuration.check(config)
  configuration.check_workdir(workdir)
  configuration.check_resume(config, workdir)
  data = interactions_lib.load(config.data)
  is_main = jax.process_index() == 0
  if is_main:
    warm = config.data.min_item_interactions
    print(f'data: {data.num_users:,} users, {data.num_items:,} items, '
          f'{data.num_interactions:,} interactions after the protocol'
          + (f' (warm-{warm}: items with fewer interactions removed first)' if warm > 1 else ''),
          flush=True)
  os.makedirs(workdir, exist_ok=True)
  if is_main:
    configuration.save(config, workdir)
  mesh = sharding.make_mesh(config.mesh)
  item_spec = item_towers.REGISTRY.get(config.model.item_tower)
  clips = interactions_lib.clip_store(config.data, data) if item_spec.batch_inputs else None
  checkpoints = Checkpoints(workdir)
  # Pretrained weights only start a run: a resumed run restores its trained ones.
  init_from = config.model.encoder.init_from
  trainer = build_trainer(config, data, mesh, load_pretrained=bool(init_from) and
                          init_from != configuration.RANDOM_INIT and not checkpoints.has_any())
  rows = trainer.task.rows(data)
  layout = pipeline.BatchLayout(trainer.task, data.num_items,
                                negatives=trainer.loss.needs_negatives, clips=clips,
                                clip_multiple=unique_bucket(config, mesh))
  iterator = iter(pipeline.train_dataset(rows, layout, config.train.batch_size,
                                         config.train.epochs, config.seed, _process()))
  return Run(config, workdir, data, trainer,
             build_evaluation(config, data, trainer, mesh, clips, show_progress=is_main),
             checkpoints, iterator, len(rows.user_ids),
             pipeline.steps_per_epoch(len(rows.user_ids), config.train.batch_size),
             sharding.batch_sharding(mesh, config.mesh.rules), Summary(workdir, is_main),
             is_main)


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
    self._preemption = _Preemption()  # installed while `run_training` runs
    self._epoch_start = time.time()

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

  def _save(self, step: int, select: float | None) -> None:
    self.state.elapsed = self._elapsed()
    self.state.saved_step = step
    self.run.checkpoints.save(step, self.run.trainer.state, self.run.iterator, self.state,
                              select)

  def _preempt(self, step: int) -> None:
    self._check_finite()
    self._save(step, None)
    self.run.checkpoints.wait()
    raise Preempted(f'stopped at step {step} after saving a checkpoint; run the same command '
                    'to resume')

  def _end_epoch(self, step: int) -> None:
    run, config, state = self.run, self.run.config, self.state
    jax.block_until_ready(run.trainer.state)
    epoch = step // run.steps_per_epoch
    state.train_seconds += time.time() - self._epoch_start
    state.epoch = epoch
    select = None
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
    self._save(step, select)
    self._epoch_start = time.time()

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
        batch = next(run.iterator)
        num_positions = int(batch.pop(pipeline.NUM_POSITIONS))
        metrics = run.trainer.run_train_step(sharding.global_batch(batch, run.batch_sharding),
                                             num_positions)
        step += 1
        self._pending.append((step, metrics))
        bar.update()
        epoch_end = step % run.steps_per_epoch == 0
        if step % config.train.log_every_steps == 0 or epoch_end:
          self._check_finite()
          self._log(step, metrics, bar)
        if self._preemption.requested or run.checkpoints.reached_preemption(step):
          self._preempt(step)
        if epoch_end:
          return step

  def run_training(self) -> None:
    total = self.run.steps_per_epoch * self.run.config.train.epochs
    step = int(self.run.trainer.state.step)
    with self._preemption:
      while step < total and not self._stopped_early():
        step = self._train_epoch(step)
        self._end_epoch(step)


def _results(run: Run, state: RunState) -> dict:
  """The best checkpoint evaluated on valid and test."""
  run.checkpoints.wait()
  run.trainer.state = run.checkpoints.restore_best(run.trainer.state, state)
  states = run.trainer.state.model_states()
  eval_start = time.time()
  valid = run.evaluation.run(states, 'valid')
  test = run.evaluation.run(states, 'test', run.config.eval.evaluators)
  breakdowns = {name: test.pop(name) for name in run.config.eval.evaluators}
  evaluations = len(state.history)
  return {
      'valid': valid, 'test': test, 'test_cold': breakdowns.get('cold'),
      'best_epoch': state.best['epoch'] if state.best else state.epoch,
      'epoch_seconds': state.train_seconds / max(state.epoch, 1),
      'train_sequences_per_second': run.num_rows * state.epoch / max(state.train_seconds, 1e-9),
      'eval_seconds': (state.eval_seconds / evaluations if evaluations
                       else time.time() - eval_start),
      'history': state.history,
      'breakdowns': breakdowns,
      'data': {'users': run.data.num_users, 'items': run.data.num_items,
               'interactions': run.data.num_interactions},
  }


def _write_json(path: str, value: dict) -> None:
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=1)
  os.replace(path + '.tmp', path)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains and tests one config; raises `Preempted` (resumable) or `Diverged`."""
  session_start = time.time()
  config = configuration.resolve(config)
  run = setup(config, workdir)
  try:
    restored = run.checkpoints.restore_latest(run.trainer.state, run.iterator)
    state = RunState()
    if restored is not None:
      run.trainer.state, state = restored
      logging.info('resumed from step %d (epoch %d)', int(run.trainer.state.step), state.epoch)
    _Loop(run, state, session_start).run_training()
    results = _results(run, state)
  finally:
    run.summary.close()
  if run.is_main:
    _write_json(os.path.join(workdir, 'results.json'), results)
    print('test ' + ' '.join(f'{k}={v:.4f}' for k, v in results['test'].items()) +
          f' (best epoch {results["best_epoch"]})')
  return results
