"""Orbax checkpoints under `WORKDIR/checkpoints`: one manager, one atomic save per epoch.

Each save holds the train state (less the arrays derived from the data, which every start
rebuilds) and the run's bookkeeping (`RunState`: the validations, and which step is the best so
far) together. The input pipeline needs no state of its own: batch i is a
function of the seed and i (`jaxlens.data.pipeline.train_dataset`), so a restored step says where it
resumes. "This epoch's state, and whether it is the best" is therefore one commit: Orbax writes a
step into a temporary folder and renames it when complete, so a kill at any moment leaves either the
previous commit or the new one. The preservation policy keeps the two latest steps (the previous one
is the fallback if the latest is damaged) and the best, the step that the saved `RunState.best`
names, whichever session saved it. (Orbax's own metric policy cannot: it holds step metrics in
memory only, so after a resume it forgot the earlier best, and deleted it two saves later.)

A damaged checkpoint (a truncated or missing file) is moved aside to `<step>.damaged`, never
deleted, and the run resumes from the newest intact one with a warning; when none is intact the
error names the damaged folders. The final evaluation does the same for the best step: a damaged
best is moved aside and the best intact kept step by the selection metric is evaluated instead,
and `restore_best` says which step it replaced and why.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging

from jaxlens import paths
from jaxlens.errors import JaxlensError

DIRECTORY = 'checkpoints'


def holds_a_run(workdir: str) -> bool:
  """A step was committed (intact, or moved aside as damaged): the workdir holds a run. Orbax's
  uncommitted temporary folders do not count."""
  folder = paths.resolve(workdir) / DIRECTORY
  return folder.is_dir() and any(p.name.isdigit() or '.damaged' in p.name
                                 for p in folder.iterdir())


@dataclasses.dataclass
class RunState:
  """The loop's bookkeeping, saved with every checkpoint."""

  epoch: int = 0  # epochs finished
  history: list = dataclasses.field(default_factory=list)  # one entry per validation
  best: dict | None = None  # {'epoch', 'step', 'valid'} of the best validation so far
  stale: int = 0  # validations since the best (early stopping)
  saved_step: int = 0  # the step of the newest checkpoint (0: none yet)
  elapsed: float = 0.0  # seconds since the run started, over all its sessions
  train_seconds: float = 0.0
  eval_seconds: float = 0.0


@dataclasses.dataclass
class Best:
  """What `Checkpoints.restore_best` restored."""

  state: Any  # the train state
  step: int
  epoch: int  # epochs finished at `step`
  # None, or {'recorded_epoch', 'recorded_step', 'reason'} when the best step the run recorded
  # could not be read and `step` is the best intact one kept instead.
  fallback: dict | None = None


def _first_line(error: Exception) -> str:
  return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)


def _abstract(tree):
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


def _shapes(tree) -> dict[str, tuple]:
  """'path/to/leaf' -> shape, for state trees and Orbax's metadata trees alike."""
  name = lambda k: str(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k))))
  return {'/'.join(name(k) for k in path): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def selection_key(metrics: dict) -> tuple[float, int]:
  """Higher metric first, then the earlier step: a later tie never replaces the best."""
  return metrics['select'], -metrics['step']


def is_better(value: float, best: dict | None) -> bool:
  return best is None or value > best['value']


@dataclasses.dataclass
class _KeepBest:
  """Orbax preservation policy: keeps the step the run being saved records as its best. Orbax
  applies it within `save`, to the kept steps and the one being saved; the steps it drops are
  deleted once that save commits, so the committed `RunState.best` always names a kept step."""

  step: int | None = None

  def should_preserve(self, checkpoints, *, context) -> list[bool]:
    del context
    return [info.step == self.step for info in checkpoints]


class Checkpoints:

  def __init__(self, workdir: str):
    self.directory = os.fspath(paths.resolve(workdir) / DIRECTORY)
    self._best = _KeepBest()
    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=2), self._best])
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(preservation_policy=policy,
                                                             create=True))

  def has_any(self) -> bool:
    return self._manager.latest_step() is not None

  def save(self, step: int, state, run: RunState) -> None:
    """Commits state and bookkeeping at `step`; keeps the two latest steps and `run.best`'s."""
    self._best.step = run.best['step'] if run.best else None
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state.checkpointed()),
        run=ocp.args.JsonSave(dataclasses.asdict(run))), force=True)

  def _restore(self, step: int, state):
    """Onto `state`'s shardings, whatever mesh or process count wrote the checkpoint."""
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract(state.checkpointed())),
        run=ocp.args.JsonRestore()))
    return restored.state.with_data_of(state), RunState(**restored.run)

  def _move_aside(self, step: int) -> str:
    source = paths.resolve(self.directory) / str(step)
    target, suffix = source.parent / f'{step}.damaged', 1
    while target.exists():
      target, suffix = source.parent / f'{step}.damaged{suffix}', suffix + 1
    source.rename(target)
    return os.fspath(target)

  def _check_shapes(self, step: int, state) -> None:
    """After a failed restore: a checkpoint of another model is a config error, not damage, and
    nothing is moved. Parameters both hold with different shapes tell the two apart."""
    try:
      saved = _shapes(ocp.StandardCheckpointer().metadata(
          os.path.join(self.directory, str(step), 'state')).item_metadata)
    except Exception:  # pylint: disable=broad-except  # unreadable metadata: damage
      return
    wanted = _shapes(state.checkpointed())
    differing = [f'{path} {saved[path]} -> {wanted[path]}'
                 for path in sorted(saved.keys() & wanted.keys()) if saved[path] != wanted[path]]
    if differing:
      raise JaxlensError(f'{self.directory}/{step} holds a model of other shapes than the '
                         f'config builds ({", ".join(differing[:4])}'
                         f'{" and more" if len(differing) > 4 else ""}); use another workdir')

  def restore_latest(self, state) -> tuple[Any, RunState] | None:
    """(state, run state) of the newest intact step; None if there is no checkpoint."""
    damaged = []
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        restored = self._restore(step, state)
      except Exception as e:  # pylint: disable=broad-except  # any unreadable file
        self._check_shapes(step, state)
        damaged.append((step, _first_line(e)))
        continue
      for bad_step, reason in damaged:
        moved = self._move_aside(bad_step)
        logging.warning('checkpoint step %d is damaged (%s); moved to %s and resumed from '
                        'step %d', bad_step, reason, moved, step)
      if damaged:
        self._manager.reload()
      return restored
    if damaged:
      raise JaxlensError(f'no intact checkpoint in {self.directory}: ' + '; '.join(
          f'{self.directory}/{step}: {reason}' for step, reason in damaged))
    return None

  def _moved_earlier(self, step: int) -> str:
    moved = sorted(p.name for p in paths.resolve(self.directory).glob(f'{step}.damaged*'))
    return (f'moved aside as damaged before ({self.directory}/{moved[-1]})' if moved
            else 'no longer kept')

  def restore_best(self, state, run: RunState, validated: dict[int, float]) -> Best:
    """The best step `run` records (the latest when nothing was validated). If it cannot be
    read, it is moved aside with a warning and the best intact kept step by the selection
    metric (`validated`: step -> metric, from the run's history) is restored instead
    (`Best.fallback` says so); if none is, one line names the damaged folders and nothing is
    moved."""
    wanted = run.best['step'] if run.best else self._manager.latest_step()
    kept = self._manager.all_steps()
    others = (sorted((s for s in kept if s in validated), reverse=True,
                     key=lambda s: selection_key({'select': validated[s], 'step': s}))
              if run.best else sorted(kept, reverse=True))
    missing = [] if wanted in kept else [(wanted, self._moved_earlier(wanted))]
    damaged = []
    for step in ([wanted] if wanted in kept else []) + [s for s in others if s != wanted]:
      try:
        restored, restored_run = self._restore(step, state)
      except Exception as e:  # pylint: disable=broad-except  # any unreadable file
        self._check_shapes(step, state)
        damaged.append((step, _first_line(e)))
        continue
      reasons = []
      for bad_step, reason in damaged:
        moved = self._move_aside(bad_step)
        logging.warning('checkpoint step %d is damaged (%s); moved to %s and evaluated step %d '
                        'instead', bad_step, reason, moved, step)
        reasons.append(f'{self.directory}/{bad_step} is damaged ({reason}); moved to {moved}')
      if damaged:
        self._manager.reload()
      for bad_step, reason in missing:
        logging.warning('the best checkpoint step %d was %s; evaluated step %d instead',
                        bad_step, reason, step)
        reasons.append(f'{self.directory}/{bad_step} was {reason}')
      fallback = None
      if step != wanted:
        fallback = {'recorded_epoch': run.best['epoch'] if run.best else run.epoch,
                    'recorded_step': wanted, 'reason': '; '.join(reasons)}
      return Best(restored, step, restored_run.epoch, fallback)
    raise JaxlensError(f'no intact checkpoint to evaluate in {self.directory}: ' + '; '.join(
        f'{self.directory}/{step}: {reason}' for step, reason in missing + damaged))

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def reached_preemption(self, step: int) -> bool:
    """True on every host once a multi-host preemption notice arrived (JAX's sync point)."""
    return self._manager.reached_preemption(step)
