"""A trained run restored for serving: its own config, its best committed checkpoint.

`restore(workdir)` reads `WORKDIR/config.json` (the resolved config the run trained with), loads
its data and builds its model and evaluation exactly as `jaxlens train` does
(`jaxlens.train.loop`), then restores the step the run recorded as its best: the step whose
results `results.json` reports. Nothing is written to the workdir.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib

import jax
import numpy as np

from jaxlens import paths, sharding
from jaxlens.data import interactions as interactions_lib
from jaxlens.data import pipeline, tasks
from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.eval.evaluation import Evaluation
from jaxlens.models import item_towers, user_towers
from jaxlens.models.recommender import Recommender
from jaxlens.train import checkpoint, configuration, loop


@dataclasses.dataclass
class Restored:
  """A run's model at its best step, and what it was trained on."""

  workdir: str
  config: object
  data: Interactions
  mesh: jax.sharding.Mesh
  evaluation: Evaluation
  states: tuple  # the model's states (`TrainState.model_states`)
  step: int
  epoch: int

  @property
  def rules(self):
    return self.config.mesh.rules

  def model(self) -> Recommender:
    """The recommender in the evaluation dtype, in eval mode."""
    return self.evaluation.model(self.states)

  @functools.cached_property
  def tables(self):
    """What queries are scored against (`Evaluation.tables`), made once."""
    return self.evaluation.tables(self.states)

  @functools.cached_property
  def fingerprint(self) -> str:
    """sha256 of the restored weights and statistics: tells an export of this step from any
    other."""
    digest = hashlib.sha256()
    params, frozen, _, rest = self.states  # the data arrays are rebuilt from the data
    for path, leaf in jax.tree_util.tree_leaves_with_path((params, frozen, rest)):
      if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        continue  # dropout's RNG counters do not change what the model computes
      digest.update(jax.tree_util.keystr(path).encode())
      digest.update(np.ascontiguousarray(jax.device_get(leaf)).tobytes())
    return digest.hexdigest()

  @property
  def scores_by_dot(self) -> bool:
    """A query's score is its inner product with an item's vector (the towers' default), which
    an approximate nearest-neighbour index can search."""
    return type(self.model().user_tower).score is user_towers.UserTower.score

  @property
  def user_spec(self) -> user_towers.UserTowerSpec:
    return user_towers.REGISTRY.get(self.config.model.user_tower)


def _check_features(saved, config, workdir: str) -> None:
  """A feature table must be the one the run trained with (it is not in checkpoints):
  `configuration.prepare` read the fingerprint of the table there now."""
  features = config.model.features
  if (item_towers.REGISTRY.get(config.model.item_tower).reads_features
      and features.fingerprint != saved.model.features.fingerprint):
    raise JaxlensError(f'{features.path} is not the feature table {workdir} trained with (its '
                       'fingerprint differs from config.model.features.fingerprint)')


def restore(workdir: str, show_progress: bool = True) -> Restored:
  """The run in `workdir` at its best committed step; a workdir without one is one line."""
  if not paths.resolve(workdir).is_dir():
    raise JaxlensError(f'--workdir {workdir}: no such folder')
  saved = configuration.load(workdir)
  if not checkpoint.holds_a_run(workdir):
    raise JaxlensError(f'{workdir} has no committed checkpoint: train it first (jaxlens train '
                       f'--workdir {workdir} ...), or let its run save its first epoch')
  config = configuration.prepare(saved)
  _check_features(saved, config, workdir)
  data = interactions_lib.load(config.data)
  configuration.check_data(config, data)
  mesh = sharding.make_mesh(config.mesh)
  clips, clip_table = loop.clips_of(config, data, mesh, is_main=False)
  trainer = loop.build_trainer(config, data, mesh, clip_table=clip_table)
  checkpoints = checkpoint.Checkpoints(workdir)
  latest = checkpoints.restore_latest(trainer.state)
  if latest is None:
    raise JaxlensError(f'{checkpoints.directory} holds no readable checkpoint')
  state, run = latest
  rows = tasks.get(user_towers.REGISTRY.get(config.model.user_tower).task).rows(data)
  steps = pipeline.steps_per_epoch(len(rows), config.train.batch_size)
  best = checkpoints.restore_best(state, run, loop.validated_steps(config, run, steps), held=True)
  evaluation = loop.build_evaluation(config, data, trainer, mesh, clips,
                                     show_progress=show_progress)
  return Restored(workdir, config, data, mesh, evaluation, best.state.model_states(), best.step,
                  best.epoch)
