"""The jitted train and evaluation steps over a split NNX model.

The model is split once into its graph and states (trainable parameters, frozen parameters, and
the rest: RNG counters, BatchNorm statistics). The steps are pure `jax.jit` functions over those
states with explicit shardings; gradients are taken with respect to trainable parameters only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxlens.errors import JaxlensError
from jaxlens.eval import ranking
from jaxlens.train import losses

LOSSES = ('in_batch', 'full_softmax', 'bce')


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class TrainState:
  params: nnx.State  # trained
  frozen: nnx.State  # parameters the freezing policy keeps fixed
  rest: nnx.State  # RNG counters, BatchNorm statistics
  opt_state: Any
  step: jax.Array


def eval_view(model: nnx.Module) -> nnx.Module:
  return nnx.view(model, deterministic=True, use_running_average=True, raise_if_not_found=False)


class Trainer:
  """Owns the model's graph, the optimizer and the compiled steps."""

  def __init__(self, model: nnx.Module, tx: optax.GradientTransformation, *, loss: str,
               log_popularity: np.ndarray, num_items: int, ks, seed: int,
               trainable: Callable[[tuple, Any], bool] = lambda path, value: True):
    if loss not in LOSSES:
      raise JaxlensError(f'config.loss.name={loss!r}; choose one of {", ".join(LOSSES)}')
    self.loss, self.num_items, self.ks, self.tx = loss, num_items, tuple(ks), tx
    self._log_pop = jnp.asarray(log_popularity)
    self._negative_key = jax.random.key(seed + 1)
    self.graphdef, params, frozen, rest = nnx.split(
        model, nnx.All(nnx.Param, trainable), nnx.Param, ...)
    self.state = TrainState(params, frozen, rest, tx.init(params), jnp.zeros((), jnp.int32))
    self._train_step = None
    self._eval_step = None

  def model(self, state: TrainState) -> nnx.Module:
    return nnx.merge(self.graphdef, state.params, state.frozen, state.rest, copy=True)

  def _loss(self, params, frozen, rest, step, batch, num_positions: int):
    # copy=True: fresh variables owned by this trace, so dropout may advance its RNG count.
    model = nnx.merge(self.graphdef, params, frozen, rest, copy=True)
    slot_ids = batch['item_ids']
    slot_embs = model.item_tower.slot_embeddings(batch)
    states = model.user_states(slot_embs[:, :-1], slot_ids[:, :-1])
    positions = losses.Positions.of(slot_ids, num_positions)
    if self.loss == 'in_batch':
      total, count = losses.in_batch_softmax(states, slot_embs, slot_ids, self._log_pop, positions)
    elif self.loss == 'full_softmax':
      total, count = losses.full_softmax(states, model.item_tower.table(), slot_ids,
                                         self.num_items, positions)
    else:
      negatives = losses.sample_negatives(jax.random.fold_in(self._negative_key, step),
                                          slot_ids, self.num_items)
      total, count = losses.bce(states, slot_embs, model.item_tower(negatives), positions)
    new_rest = nnx.state(model, nnx.Not(nnx.Param))
    return total / jnp.maximum(count, 1), (new_rest, count)

  def train_step(self, state: TrainState, batch: dict[str, jax.Array], num_positions: int):
    """One optimizer step; `num_positions` (static) bounds the batch's valid positions."""
    grad_fn = jax.value_and_grad(self._loss, has_aux=True)
    (loss, (rest, count)), grads = grad_fn(state.params, state.frozen, state.rest, state.step,
                                           batch, num_positions)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {'loss': loss, 'positions': count, 'grad_norm': optax.tree.norm(grads)}
    return TrainState(params, state.frozen, rest, opt_state, state.step + 1), metrics

  def item_table(self, state: TrainState) -> jax.Array:
    """Every item's embedding in eval mode, `(vocab, D)`, for towers that hold a table."""
    return eval_view(self.model(state)).item_tower.table()

  def embed_clips(self, state: TrainState, clips: jax.Array) -> jax.Array:
    """Eval-mode embeddings of a chunk of items' clips (video towers)."""
    return eval_view(self.model(state)).item_tower.embed_clips(clips)

  def eval_step(self, state: TrainState, table: jax.Array, batch: dict[str, jax.Array]):
    model = eval_view(self.model(state))
    inputs = batch['inputs']
    user_vectors = model.user_states(table[inputs], inputs)[:, -1]
    per_user = ranking.user_metrics(user_vectors, table, batch['history'], batch['targets'],
                                    self.num_items, self.ks)
    cold = batch['weights'] * batch['cold']
    sums = {name: jnp.sum(value * batch['weights']) for name, value in per_user.items()}
    sums.update({f'cold/{name}': jnp.sum(value * cold) for name, value in per_user.items()})
    sums['cold/users'] = jnp.sum(cold)
    return sums

  def compile(self, batch_sharding) -> None:
    """jit with explicit shardings: the state keeps its layout, batches are split over data."""
    state_sharding = jax.tree.map(lambda x: x.sharding, self.state)
    self._train_step = jax.jit(self.train_step, in_shardings=(state_sharding, batch_sharding),
                               out_shardings=(state_sharding, None), donate_argnums=0,
                               static_argnums=2)
    self._item_table = jax.jit(self.item_table, in_shardings=(state_sharding,))
    self._embed_clips = jax.jit(self.embed_clips, in_shardings=(state_sharding, batch_sharding))
    self._eval_step = jax.jit(self.eval_step, in_shardings=(state_sharding, None, batch_sharding))

  def run_train_step(self, batch, num_positions: int):
    """One step; positions are rounded up to a multiple of the batch so few shapes compile."""
    rows = batch['item_ids'].shape[0]
    bound = max(rows, -(-num_positions // rows) * rows)
    self.state, metrics = self._train_step(self.state, batch, bound)
    return metrics

  def run_item_table(self):
    return self._item_table(self.state)

  def run_embed_clips(self, clips):
    return self._embed_clips(self.state, clips)

  def run_eval_step(self, table, batch):
    return self._eval_step(self.state, table, batch)
