"""Full-ranking evaluation: every item embedded once, every user's target ranked among all items.

The train loop hands in the model's states; evaluation merges them into a graph built in the
evaluation dtype (`config.eval.dtype`, float32 by default: a bfloat16 run is scored in float32,
as the reference scored its fp16 runs), in eval mode (no dropout, BatchNorm running statistics).
Ranks come back to every process (a small `(B,)` array per batch); evaluators summarise them on
the host (`jaxlens.eval.evaluators`).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from flax import nnx

from jaxlens import sharding
from jaxlens.data import pipeline
from jaxlens.data.protocol import Interactions
from jaxlens.eval import evaluators as evaluators_lib
from jaxlens.eval import ranking


def eval_view(model: nnx.Module) -> nnx.Module:
  return nnx.view(model, deterministic=True, use_running_average=True, raise_if_not_found=False)


class Evaluation:

  def __init__(self, graphdef: nnx.GraphDef, state_shardings, *, data: Interactions, eval_config,
               mesh: jax.sharding.Mesh, rules, process: pipeline.ProcessSlice, clips=None,
               show_progress: bool = True):
    self._graphdef, self._data, self._config = graphdef, data, eval_config
    self._process, self._clips, self._show_progress = process, clips, show_progress
    self._batch_sharding = sharding.batch_sharding(mesh, rules)
    self._table = jax.jit(self._table_fn, in_shardings=(state_shardings,))
    self._encode = jax.jit(self._encode_fn, in_shardings=(state_shardings, self._batch_sharding))
    self._ranks = jax.jit(self._ranks_fn,
                          in_shardings=(state_shardings, None, self._batch_sharding),
                          out_shardings=sharding.replicated(mesh))
    self._users = {}

  def _model(self, states):
    return eval_view(nnx.merge(self._graphdef, *states, copy=True))

  def _table_fn(self, states):
    return self._model(states).item_tower.table()

  def _encode_fn(self, states, clips):
    return self._model(states).item_tower.encode(clips)

  def _ranks_fn(self, states, table, batch):
    model = self._model(states)
    queries = model.eval_queries(table, batch['inputs'], batch[pipeline.USER_IDS])
    scores = model.score(queries, table)
    return ranking.target_ranks(scores, batch['targets'], batch['history'], self._data.num_items)

  def _progress(self, iterable, total: int, desc: str):
    return tqdm.tqdm(iterable, total=total, desc=desc, unit='batch', leave=False,
                     disable=not self._show_progress, mininterval=2)

  def item_table(self, states) -> jax.Array:
    """Every item's vector `(vocab, D)`: the tower's table, or its content encoded in chunks
    (padding row 0 is zeros)."""
    if self._clips is None:
      return self._table(states)
    chunk = self._config.encode_batch
    dataset = pipeline.item_clips_dataset(self._clips, self._data.num_items, chunk,
                                          self._process)
    iterator = dataset.to_iter_dataset()  # Grain decodes the next chunks while one encodes
    chunks = [self._encode(states, sharding.global_batch(batch, self._batch_sharding)['clips'])
              for batch in self._progress(iterator, len(dataset), 'item table')]
    table = jnp.concatenate(chunks)[:self._data.num_items]
    return jnp.concatenate([jnp.zeros_like(table[:1]), table])

  def ranks(self, states, split: str) -> np.ndarray:
    """Each user's target rank `(num_users,)` in user order."""
    table = self.item_table(states)
    dataset = pipeline.eval_dataset(self._data, split, self._config.batch_size, self._process)
    ranks = [np.asarray(self._ranks(states, table,
                                    sharding.global_batch(batch, self._batch_sharding)))
             for batch in self._progress(dataset, len(dataset), split)]
    return np.concatenate(ranks)[:self._data.num_users]

  def compiled_variants(self) -> dict[str, int]:
    """How many shapes each evaluation function has compiled for (retrace checks)."""
    return {name: fn._cache_size()  # pylint: disable=protected-access
            for name, fn in (('table', self._table), ('encode', self._encode),
                             ('ranks', self._ranks))}

  def run(self, states, split: str, evaluators: Sequence[str] = ()) -> dict[str, Any]:
    """`HR@K`/`NDCG@K` over all users, plus the named evaluators' summaries."""
    if split not in self._users:
      self._users[split] = evaluators_lib.EvalUsers.of(self._data, split)
    return evaluators_lib.summarise(self.ranks(states, split), self._users[split], self._config,
                                    evaluators)
