"""The jitted train step over a split NNX model.

The model is split once into its graph and states (trainable parameters, frozen parameters,
arrays derived from the data such as a graph's edges or a frozen feature table, and the rest:
RNG counters, BatchNorm statistics). The step is a pure `jax.jit` function over those states
with explicit shardings; gradients are taken with respect to trainable parameters only, so
frozen ones get neither gradients nor optimizer state. The derived arrays pass through the step
unchanged and are not checkpointed (`TrainState.checkpointed`): every start rebuilds them from
the data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxlens.data import clip_table as clip_tables
from jaxlens.data.pipeline import CLIP_ITEMS, CLIPS, ITEM_IDS, NEGATIVE_IDS
from jaxlens.data.tasks import Task
from jaxlens.models.recommender import Recommender
from jaxlens.models.variables import DataArray
from jaxlens.train import losses


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class TrainState:
  params: nnx.State  # trained
  frozen: nnx.State  # parameters the freezing policy keeps fixed
  data: nnx.State | None  # `DataArray`s (edges, feature tables); None in checkpoints
  rest: nnx.State  # RNG counters, BatchNorm statistics
  opt_state: Any
  step: jax.Array

  def model_states(self) -> tuple[nnx.State, ...]:
    """What `nnx.merge(graphdef, *states)` needs, for evaluation."""
    return self.params, self.frozen, self.data, self.rest

  def checkpointed(self) -> 'TrainState':
    """What a checkpoint holds: all but the arrays derived from the data."""
    return dataclasses.replace(self, data=None)

  def with_data_of(self, current: 'TrainState') -> 'TrainState':
    """A restored checkpoint completed with this run's derived arrays."""
    return dataclasses.replace(self, data=current.data)


def is_abstract(tree) -> bool:
  return any(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(tree))


def abstract_init(tx: optax.GradientTransformation, params) -> tuple[Any, jax.ShapeDtypeStruct]:
  """The optimizer state and step counter of abstract `params`, as shapes and layouts: a leaf
  shaped like a parameter takes its layout, the others (counts) are replicated."""
  replicated = NamedSharding(jax.tree.leaves(params)[0].sharding.mesh, P())
  like = lambda leaf, sharding: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding)
  params_like = lambda node: jax.tree.structure(node) == jax.tree.structure(params)
  opt_state = jax.tree.map(
      lambda node: (jax.tree.map(lambda leaf, param: like(leaf, param.sharding), node, params)
                    if params_like(node) else like(node, replicated)),
      jax.eval_shape(tx.init, params), is_leaf=params_like)
  return opt_state, jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated)


class Trainer:
  """Owns the model's graph, the optimizer and the compiled train step.

  With a device-resident clip table (`clip_table`, every item's uint8 clip, row = item id),
  batches carry the distinct items' ids and the step gathers their clips on the device.
  """

  def __init__(self, model: Recommender, tx: optax.GradientTransformation, *,
               loss: losses.LossSpec, task: Task, log_popularity: np.ndarray, num_items: int,
               negatives_group: int = 0, clip_table: jax.Array | None = None):
    self.loss, self.task, self.num_items, self.tx = loss, task, num_items, tx
    self.negatives_group = negatives_group
    self.clip_table = clip_table
    self.position_floor = 0  # the run's planned query count (`loop.plan_shapes`)
    self._log_pop = log_popularity  # numpy: a constant of the step, on whatever devices run it
    trainable = lambda path, value: model.is_trainable(tuple(path))
    self.graphdef, params, frozen, data, rest = nnx.split(
        model, nnx.All(nnx.Param, trainable), nnx.Param, DataArray, ...)
    if is_abstract(params):
      self.state = TrainState(params, frozen, data, rest, *abstract_init(tx, params))
    else:
      self.state = TrainState(params, frozen, data, rest, tx.init(params),
                              jnp.zeros((), jnp.int32))
    self._train_step = None

  def model(self, state: TrainState) -> Recommender:
    return nnx.merge(self.graphdef, *state.model_states(), copy=True)

  def _loss(self, params, frozen, data, rest, batch, num_positions: int):
    # copy=True: fresh variables owned by this trace, so dropout may advance its RNG count.
    model = nnx.merge(self.graphdef, params, frozen, data, rest, copy=True)
    fields = (ITEM_IDS, NEGATIVE_IDS) if self.loss.needs_negatives else (ITEM_IDS,)
    forward = model.forward(batch, fields)
    slot_ids = batch[ITEM_IDS]
    positions = losses.Positions.of(self.task.query_mask(slot_ids), num_positions,
                                    self.task.target_offset(slot_ids.shape[1]))
    total, count = self.loss.fn(losses.LossInputs(
        queries=jax.tree.map(lambda q: q[positions.users, positions.steps], forward.queries),
        positions=positions, slot_ids=slot_ids, slot_embs=forward.embs[ITEM_IDS],
        negative_embs=forward.embs.get(NEGATIVE_IDS), log_popularity=jnp.asarray(self._log_pop),
        num_items=self.num_items, score=model.score, score_each=model.score_each,
        table=forward.table, negatives_group=self.negatives_group))
    new_rest = nnx.state(model, nnx.Not(nnx.Any(nnx.Param, DataArray)))
    return total / jnp.maximum(count, 1), (new_rest, count)

  def train_step(self, state: TrainState, batch: dict[str, jax.Array], clip_table,
                 num_positions: int):
    """One optimizer step; `num_positions` (static) bounds the batch's real queries."""
    if clip_table is not None:
      batch = {**batch, CLIPS: clip_tables.gather(clip_table, batch[CLIP_ITEMS],
                                                  self.clip_table.sharding)}
    grad_fn = jax.value_and_grad(self._loss, has_aux=True)
    (loss, (rest, count)), grads = grad_fn(state.params, state.frozen, state.data, state.rest,
                                           batch, num_positions)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {'loss': loss, 'positions': count, 'grad_norm': optax.tree.norm(grads)}
    return TrainState(params, state.frozen, state.data, rest, opt_state, state.step + 1), metrics

  def compile(self, batch_sharding) -> None:
    """jit with explicit shardings: the state keeps its layout, batches are split over data."""
    state_sharding = jax.tree.map(lambda x: x.sharding, self.state)
    table_sharding = None if self.clip_table is None else self.clip_table.sharding
    self._train_step = jax.jit(
        self.train_step, in_shardings=(state_sharding, batch_sharding, table_sharding),
        out_shardings=(state_sharding, None), donate_argnums=0, static_argnums=3)

  def position_bound(self, rows: int, num_positions: int) -> int:
    """The static query count of a step: the run's planned count, or a larger one rounded up to
    a multiple of the rows, so few shapes compile."""
    return max(rows, self.position_floor, -(-num_positions // rows) * rows)

  def run_train_step(self, batch, num_positions: int):
    """One step on a global batch; returns its metrics as device arrays (no host sync)."""
    bound = self.position_bound(batch[ITEM_IDS].shape[0], num_positions)
    self.state, metrics = self._train_step(self.state, batch, self.clip_table, bound)
    return metrics

  def lower(self, batch: dict[str, jax.ShapeDtypeStruct], num_positions: int):
    """The train step lowered for a batch of these shapes, without data (AOT reports)."""
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), self.state)
    bound = self.position_bound(batch[ITEM_IDS].shape[0], num_positions)
    return self._train_step.lower(abstract, batch, self.clip_table, bound)

  def compiled_variants(self) -> int:
    """How many shapes the train step has compiled for (retrace checks)."""
    return self._train_step._cache_size()  # pylint: disable=protected-access
