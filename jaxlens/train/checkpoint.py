"""Orbax checkpoints: the latest (every epoch and on preemption) and the best by validation.

The latest holds everything needed to resume exactly: train state, the Grain iterator's state
and the loop's bookkeeping. The best holds the train state only. Orbax writes into a temporary
folder and renames it when complete, so a crash never leaves a half-written checkpoint as the
latest.
"""

from __future__ import annotations

import os

import grain
import jax
import orbax.checkpoint as ocp


def _abstract(tree):
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


def _manager(directory: str) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))


class Checkpoints:

  def __init__(self, workdir: str):
    self._latest = _manager(os.path.join(os.path.abspath(workdir), 'checkpoints', 'latest'))
    self._best = _manager(os.path.join(os.path.abspath(workdir), 'checkpoints', 'best'))

  def has_latest(self) -> bool:
    return self._latest.latest_step() is not None

  def save_latest(self, step: int, state, iterator, meta: dict) -> None:
    self._latest.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=grain.checkpoint.CheckpointSave(iterator),
        meta=ocp.args.JsonSave(meta)), force=True)

  def restore_latest(self, state, iterator):
    """(state, meta) restored onto `state`'s shardings, `iterator` moved in place; or None."""
    step = self._latest.latest_step()
    if step is None:
      return None
    restored = self._latest.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract(state)),
        data=grain.checkpoint.CheckpointRestore(iterator),
        meta=ocp.args.JsonRestore()))
    return restored.state, restored.meta

  def save_best(self, step: int, state) -> None:
    self._best.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)), force=True)

  def restore_best(self, state):
    step = self._best.latest_step()
    if step is None:
      return state
    return self._best.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract(state)))).state

  def wait(self) -> None:
    self._latest.wait_until_finished()
    self._best.wait_until_finished()

  def reached_preemption(self, step: int) -> bool:
    """True on every host once a multi-host preemption notice arrived (JAX's sync point)."""
    return self._latest.reached_preemption(step)
