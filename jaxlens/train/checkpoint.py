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

Each step is sealed: a checksum manifest of its files (`jaxlens.train.checksums`) is written
inside its commit, and `checkpoints/committed.json` names the newest step committed. Every
restore checks the step's files against its manifest before reading any, then checks that the
step holds the model the config builds (shapes from the step's own tree metadata): a step of
another model is a config error, one line, and nothing is moved. A step whose files fail the
check, or that fails to restore for any other reason, is damaged: it is moved aside to
`<step>.damaged`, never deleted, and the run resumes from the newest intact step with one
warning line (the traceback, if any, goes to the log file); when none is intact the error names
the damaged folders. A newest committed step whose folder is gone counts as damaged too. The final
evaluation does the same for the best step: a damaged best is moved aside and the best intact
kept step by the selection metric is evaluated instead, and `restore_best` says which step it
replaced and why. Steps written before manifests existed (their step metadata asks for none)
are checked by restoring them.

A save that runs out of disk space stops the run with one line naming the folder and the space a
step takes; its partial folder is removed and the previous step stays as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import shutil
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging
# The store Orbax's default array handler writes with; Orbax exports no other name for it.
from orbax.checkpoint._src.metadata import array_metadata_store

from jaxlens import paths, process_zero
from jaxlens.errors import JaxlensError
from jaxlens.train import checksums

DIRECTORY = 'checkpoints'
COMMITTED = 'committed.json'  # {'step': the newest step committed}, written after each commit
_ASKS_FOR_MANIFEST = 'checksums'  # the step metadata's custom key saying a manifest was written
# Orbax saves an array replicated over the data axis in parallel, one slice per replica, and
# each slice shape compiles a program of its own: for a small leaf (a bias, a norm scale) that
# costs more than it saves. Only slices of at least this size are split (the tables of a real
# run are): a tiny run on 8 devices compiles 40 programs, and slicing every leaf would add 56.
REPLICA_PARALLEL_MIN_SLICE_BYTES = 2**20
ocp.type_handlers.register_type_handler(jax.Array, ocp.type_handlers.ArrayHandler(
    min_slice_bytes_for_replica_parallel=REPLICA_PARALLEL_MIN_SLICE_BYTES,
    array_metadata_store=array_metadata_store.Store()), override=True)  # as Orbax's default


def holds_a_run(workdir: str) -> bool:
  """A step was committed (intact, moved aside as damaged, or recorded and gone since): the
  workdir holds a run. Orbax's uncommitted temporary folders do not count."""
  folder = paths.resolve(workdir) / DIRECTORY
  return folder.is_dir() and any(p.name.isdigit() or '.damaged' in p.name or p.name == COMMITTED
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
  """A failure in a few words: TensorStore appends its whole spec to every message."""
  line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
  line = line.split(' [tensorstore_spec', 1)[0].split(' See full TensorStore details', 1)[0]
  return line if len(line) <= 300 else line[:297] + '...'


def _abstract(tree):
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


def _is_key(leaf) -> bool:
  return jax.dtypes.issubdtype(getattr(leaf, 'dtype', None), jax.dtypes.prng_key)


def _stored_shape(leaf) -> tuple:
  """The shape a leaf has in a checkpoint: a PRNG key array is stored as its key data (a
  `key<fry>` of shape () as uint32 (2,))."""
  return tuple(jax.eval_shape(jax.random.key_data, leaf).shape if _is_key(leaf) else leaf.shape)


def _shapes(tree) -> dict[str, tuple]:
  """'path/to/leaf' -> stored shape, for state trees and Orbax's metadata trees alike."""
  name = lambda k: str(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k))))
  return {'/'.join(name(k) for k in path): _stored_shape(leaf)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def selection_key(metrics: dict) -> tuple[float, int]:
  """Higher metric first, then the earlier step: a later tie never replaces the best."""
  return metrics['select'], -metrics['step']


def is_better(value: float, best: dict | None) -> bool:
  return best is None or value > best['value']


def _out_of_space(error: BaseException) -> bool:
  """ENOSPC anywhere in the chain: an OSError, or TensorStore's message carrying its code."""
  while error is not None:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
      return True
    if "os_error_code='28'" in str(error) or 'No space left on device' in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False


def _remove_partial(folder: str, step: int, quiet_seconds: float = 1.0,
                    limit_seconds: float = 30.0) -> None:
  """Removes step `step`'s unfinished folders in `folder`, until none has come back for
  `quiet_seconds`: when one array's write fails, the writes of the others are still in flight,
  and once the removal frees their space they succeed and create the folder again."""
  start = quiet_since = time.monotonic()
  while time.monotonic() - quiet_since < quiet_seconds and time.monotonic() - start < limit_seconds:
    partials = list(paths.resolve(folder).glob(f'{step}.orbax-checkpoint-tmp*'))
    for partial in partials:
      shutil.rmtree(partial, ignore_errors=True)
    if partials:
      quiet_since = time.monotonic()
    time.sleep(0.05)


def _sealed(directory: str):
  """Orbax's commit of a step folder (a rename on a disk, a commit file in a bucket), with the
  checksum manifest written into the folder just before it, once the items are final, and the
  step recorded in `COMMITTED` just after."""
  base = ocp.path.atomicity_defaults.get_default_temporary_path_class(paths.resolve(directory))

  class Sealed(base):

    async def finalize(self):
      step = self.get_final().name
      if not step.isdigit():  # an item's folder (state, run), finalized before its step's
        return await super().finalize()
      store = self._checkpoint_metadata_store  # Orbax writes the step metadata in the background
      if store is not None:
        await asyncio.to_thread(store.wait_until_finished)
      await asyncio.to_thread(checksums.write, os.fspath(self.get()))
      await super().finalize()
      await asyncio.to_thread(paths.write_json, paths.resolve(directory) / COMMITTED,
                              {'step': int(step)})

  return Sealed


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
    self._pending: int | None = None  # the step whose save may still be running
    self._step_bytes = 0  # the arrays of the pending save
    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=2), self._best])
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            preservation_policy=policy, create=True,
            temporary_path_class=_sealed(self.directory)))

  def has_any(self) -> bool:
    return self._manager.latest_step() is not None

  def save(self, step: int, state, run: RunState) -> None:
    """Commits state and bookkeeping at `step`; keeps the two latest steps and `run.best`'s."""
    self.wait()  # a failure of the previous save is reported as its own
    self._best.step = run.best['step'] if run.best else None
    self._pending = step
    self._step_bytes = sum(jax.random.key_data(x).nbytes if _is_key(x) else x.nbytes
                           for x in jax.tree.leaves(state.checkpointed()))
    with self._out_of_space_in_one_line():
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state.checkpointed()),
          run=ocp.args.JsonSave(dataclasses.asdict(run))), force=True,
          custom_metadata={_ASKS_FOR_MANIFEST: checksums.MANIFEST})

  def wait(self) -> None:
    """Until the pending save is committed."""
    with self._out_of_space_in_one_line():
      self._manager.wait_until_finished()
    self._pending = None

  @contextlib.contextmanager
  def _out_of_space_in_one_line(self):
    """A full disk while saving `self._pending`: its partial folder removed, one error line with
    the space a step takes (the last one committed, or the arrays of this one)."""
    try:
      yield
    except Exception as e:  # pylint: disable=broad-except  # Orbax wraps the OSError its own way
      if not _out_of_space(e) or not paths.is_local(self.directory):  # buckets do not fill up
        raise
      logging.info('saving step %d ran out of space', self._pending, exc_info=True)
      step, folder = self._pending, os.fspath(paths.resolve(self.directory))
      try:  # the save's background work (its metadata, its other items) ends first
        self._manager.wait_until_finished()
      except Exception:  # pylint: disable=broad-except  # this same failure, reported below
        pass
      _remove_partial(folder, step)
      intact = [s for s in self._manager.all_steps() if s != step]
      size = (sum(os.path.getsize(os.path.join(root, name))
                  for root, _, names in os.walk(self._folder(max(intact))) for name in names)
              if intact else self._step_bytes)
      raise JaxlensError(
          f'{self.directory} ran out of disk space saving step {step}: a step takes about '
          f'{size / 1e6:.1f} MB ({shutil.disk_usage(folder).free / 1e6:.1f} MB free); free some '
          'space and run the same command '
          + (f'to resume from step {max(intact)}' if intact else 'to start again')) from None

  def _restore(self, step: int, state):
    """Onto `state`'s shardings, whatever mesh or process count wrote the checkpoint."""
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract(state.checkpointed())),
        run=ocp.args.JsonRestore()))
    return restored.state.with_data_of(state), RunState(**restored.run)

  def _folder(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def _verify(self, step: int) -> str | None:
    """Why step `step`'s files cannot be trusted, or None. A step without a manifest whose
    metadata asks for none was written before manifests existed: its restore decides."""
    folder = self._folder(step)
    if (paths.resolve(folder) / checksums.MANIFEST).exists():
      return checksums.check(folder)
    try:
      metadata = paths.read_json(paths.resolve(folder) / checksums.STEP_METADATA)
      asks = _ASKS_FOR_MANIFEST in (metadata.get('custom_metadata') or {})
    except (OSError, ValueError, AttributeError):
      return f'{checksums.MANIFEST} and {checksums.STEP_METADATA} missing or unreadable'
    return f'{checksums.MANIFEST} missing' if asks else None

  def _check_shapes(self, step: int, state) -> None:
    """A checkpoint of another model is a config error, not damage, and nothing is moved:
    parameters both hold with different shapes tell them apart. Unreadable tree metadata is left
    to the restore (damage)."""
    try:
      saved = _shapes(ocp.StandardCheckpointer().metadata(
          os.path.join(self._folder(step), 'state')).item_metadata)
    except Exception:  # pylint: disable=broad-except  # unreadable metadata: damage
      logging.info('tree metadata of step %d unreadable', step, exc_info=True)
      return
    wanted = _shapes(state.checkpointed())
    differing = [f'{path} {saved[path]} -> {wanted[path]}'
                 for path in sorted(saved.keys() & wanted.keys()) if saved[path] != wanted[path]]
    if differing:
      raise JaxlensError(f'{self._folder(step)} holds a model of other shapes than the '
                         f'config builds ({", ".join(differing[:4])}'
                         f'{" and more" if len(differing) > 4 else ""}); use another workdir')

  def _try_restore(self, step: int, state):
    """(state, run state) of step `step`, or the reason it is damaged (a str). The files are
    checked once, by process 0, for the whole job."""
    reason = process_zero.decides(lambda: self._verify(step))
    if reason is not None:
      return reason
    self._check_shapes(step, state)
    try:
      return self._restore(step, state)
    except Exception as e:  # pylint: disable=broad-except  # any unreadable file
      logging.info('restoring step %d failed', step, exc_info=True)
      return _first_line(e)

  def _move_aside(self, step: int) -> str:
    source = paths.resolve(self._folder(step))
    target, suffix = source.parent / f'{step}.damaged', 1
    while target.exists():
      target, suffix = source.parent / f'{step}.damaged{suffix}', suffix + 1
    source.rename(target)
    return os.fspath(target)

  def _set_aside(self, damaged: list[tuple[int, str]]) -> list[str]:
    """Moves the damaged steps' folders aside (process 0, for the job); what happened to each,
    on process 0."""
    said = []

    def move():
      for step, reason in damaged:
        if paths.resolve(self._folder(step)).exists():
          said.append(f'{self._folder(step)} is damaged ({reason}); moved to '
                      f'{self._move_aside(step)}')
        else:
          said.append(f'{self._folder(step)} is {reason}')

    if damaged:
      process_zero.acts(move, 'damaged checkpoints moved aside')
      self._manager.reload()
    return said

  def _lost(self, kept: list[int]) -> list[tuple[int, str]]:
    """The newest committed step (as `COMMITTED` records it) when it is no longer a step: its
    folder deleted, moved away, or without Orbax's commit marker. One moved aside before is
    not lost again."""
    try:
      recorded = int(paths.read_json(paths.resolve(self.directory) / COMMITTED)['step'])
    except (OSError, ValueError, KeyError, TypeError):
      return []
    if recorded in kept or recorded < max(kept, default=-1):
      return []
    if paths.resolve(self._folder(recorded)).exists():
      return [(recorded, f'not a committed step ({checksums.COMMIT_MARKER} missing)')]
    if list(paths.resolve(self.directory).glob(f'{recorded}.damaged*')):
      return []
    return [(recorded, 'missing: deleted or moved away after its commit')]

  def restore_latest(self, state) -> tuple[Any, RunState] | None:
    """(state, run state) of the newest intact step; None if there is no checkpoint."""
    kept = sorted(self._manager.all_steps(), reverse=True)
    damaged = self._lost(kept)
    for step in kept:
      restored = self._try_restore(step, state)
      if isinstance(restored, str):
        damaged.append((step, restored))
        continue
      said = self._set_aside(damaged)
      if said:
        logging.warning('checkpoint %s; resumed from step %d', '; '.join(said), step)
      return restored
    if damaged:
      raise JaxlensError(f'no intact checkpoint in {self.directory}: ' + '; '.join(
          f'{self._folder(step)}: {reason}' for step, reason in damaged))
    return None

  def _moved_earlier(self, step: int) -> str:
    moved = sorted(p.name for p in paths.resolve(self.directory).glob(f'{step}.damaged*'))
    return (f'moved aside as damaged before ({self.directory}/{moved[-1]})' if moved
            else 'no longer kept')

  def restore_best(self, state, run: RunState, validated: dict[int, float], *,
                   held: bool = False) -> Best:
    """The best step `run` records (the latest when nothing was validated). If it cannot be
    read, it is moved aside with a warning and the best intact kept step by the selection
    metric (`validated`: step -> metric, from the run's history) is restored instead
    (`Best.fallback` says so); if none is, one line names the damaged folders and nothing is
    moved.

    `held`: `state` holds the values of its own step (a run that just trained or restored it).
    When that is the step wanted, it is the best as it stands: nothing is read (for a large
    model, from a bucket, that read costs as much as the save)."""
    wanted = run.best['step'] if run.best else self._manager.latest_step()
    if held and wanted == int(state.step):
      return Best(state, wanted, run.best['epoch'] if run.best else run.epoch)
    kept = self._manager.all_steps()
    others = (sorted((s for s in kept if s in validated), reverse=True,
                     key=lambda s: selection_key({'select': validated[s], 'step': s}))
              if run.best else sorted(kept, reverse=True))
    missing = [] if wanted in kept else [(wanted, self._moved_earlier(wanted))]
    damaged = []
    for step in ([wanted] if wanted in kept else []) + [s for s in others if s != wanted]:
      restored = self._try_restore(step, state)
      if isinstance(restored, str):
        damaged.append((step, restored))
        continue
      reasons = self._set_aside(damaged) + [f'{self._folder(bad)} was {reason}'
                                            for bad, reason in missing]
      if reasons:
        logging.warning('checkpoint %s; evaluated step %d instead', '; '.join(reasons), step)
      fallback = None
      if step != wanted:
        fallback = {'recorded_epoch': run.best['epoch'] if run.best else run.epoch,
                    'recorded_step': wanted, 'reason': '; '.join(reasons)}
      return Best(restored[0], step, restored[1].epoch, fallback)
    raise JaxlensError(f'no intact checkpoint to evaluate in {self.directory}: ' + '; '.join(
        f'{self._folder(step)}: {reason}' for step, reason in missing + damaged))

  def reached_preemption(self, step: int) -> bool:
    """True on every host once a multi-host preemption notice arrived (JAX's sync point)."""
    return self._manager.reached_preemption(step)
