"""Full-ranking evaluation: every item embedded once, every user's target ranked among all items.

Per evaluation, the item tower's vector of every item (its table, or its clips encoded in
chunks) goes once through the user tower's `tables` (a graph tower propagates here); each batch
of users is then scored against the result.

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
from jaxlens.data import clip_table as clip_tables
from jaxlens.data import pipeline
from jaxlens.data.protocol import Interactions
from jaxlens.eval import evaluators as evaluators_lib
from jaxlens.eval import ranking
from jaxlens.models.user_towers import Tables


def eval_view(model: nnx.Module) -> nnx.Module:
  return nnx.view(model, deterministic=True, use_running_average=True, raise_if_not_found=False)


class Evaluation:

  def __init__(self, graphdef: nnx.GraphDef, state_shardings, *, data: Interactions, eval_config,
               mesh: jax.sharding.Mesh, rules, process: pipeline.ProcessSlice,
               encodes: bool = False, clips=None, clip_table: jax.Array | None = None,
               show_progress: bool = True):
    """`encodes`: the item tower has no table; every item's inputs are encoded in chunks, from
    `clips` (a host `ClipStore`) or `clip_table` (every item's clip on the devices)."""
    self._graphdef, self._data, self._config = graphdef, data, eval_config
    self._process, self._clips, self._show_progress = process, clips, show_progress
    self._clip_table = clip_table
    # Clips on several devices are encoded in their shards' order, the same in every chunk
    # (`pipeline.item_clips_dataset`); `_encode_fn` puts the embeddings back in id order.
    self._table_shards = 1 if clip_table is None else clip_tables.shards_of(clip_table)
    self._in_id_order = (None if self._table_shards == 1 else np.argsort(
        clip_tables.owner_order(np.arange(1, eval_config.encode_batch + 1), self._table_shards)))
    self._encodes = encodes
    self._batch_sharding = sharding.batch_sharding(mesh, rules)
    self._platform = mesh.devices.flat[0].platform
    self._table = jax.jit(self._table_fn, in_shardings=(state_shardings,))
    table_sharding = None if clip_table is None else clip_table.sharding
    self._encode = jax.jit(self._encode_fn, in_shardings=(state_shardings, self._batch_sharding,
                                                          table_sharding))
    self._tables = jax.jit(self._tables_fn, in_shardings=(state_shardings, None))
    self._ranks = jax.jit(self._ranks_fn,
                          in_shardings=(state_shardings, None, self._batch_sharding),
                          out_shardings=sharding.replicated(mesh))

  def model(self, states) -> nnx.Module:
    """The recommender of `states` in the evaluation dtype, in eval mode."""
    return eval_view(nnx.merge(self._graphdef, *states, copy=True))

  def _table_fn(self, states):
    return self.model(states).item_table()

  def _encode_fn(self, states, chunk, clip_table):
    clips = (chunk[pipeline.CLIPS] if clip_table is None else
             clip_tables.gather(clip_table, chunk[pipeline.CLIP_ITEMS],
                                self._clip_table.sharding))
    embeddings = self.model(states).encode(clips)
    return embeddings if self._in_id_order is None else embeddings[self._in_id_order]

  def _tables_fn(self, states, items):
    return self.model(states).tables(items)

  def _ranks_fn(self, states, tables, batch):
    model = self.model(states)
    queries = model.eval_queries(tables, batch['inputs'], batch[pipeline.USER_IDS])
    rank = lambda queries, targets, history: ranking.target_ranks(
        model.score(queries, tables.items), targets, history, self._data.num_items)
    blocks = self.ranking_blocks(batch['targets'].shape[0], tables.items.shape[0])
    return {'ranks': ranking.blockwise(rank, (queries, batch['targets'], batch['history']),
                                       blocks),
            'targets': batch['targets'],
            'history_lengths': jnp.count_nonzero(batch['history'], axis=1)}

  def ranking_blocks(self, users: int, vocab: int) -> int:
    """The blocks of users a batch of `users` is ranked in against `vocab` item rows on this
    mesh (`ranking.user_blocks`)."""
    shards = users // self._batch_sharding.shard_shape((users,))[0]
    return ranking.user_blocks(users, vocab, shards, self._platform)

  def _progress(self, iterable, total: int, desc: str):
    return tqdm.tqdm(iterable, total=total, desc=desc, unit='batch', leave=False,
                     disable=not self._show_progress, mininterval=2)

  def item_table(self, states) -> jax.Array:
    """Every item's vector `(vocab, D)`: the tower's table, or its content encoded in chunks
    (padding row 0 is zeros)."""
    if not self._encodes:
      return self._table(states)
    chunk = self._config.encode_batch
    dataset = pipeline.item_clips_dataset(self._clips, self._data.num_items, chunk,
                                          self._process, self._table_shards)
    iterator = dataset.to_iter_dataset()  # Grain decodes the next chunks while one encodes
    chunks = [self._encode(states, sharding.global_batch(batch, self._batch_sharding),
                           self._clip_table)
              for batch in self._progress(iterator, len(dataset), 'item table')]
    table = jnp.concatenate(chunks)[:self._data.num_items]
    return jnp.concatenate([jnp.zeros_like(table[:1]), table])

  def tables(self, states, items: jax.Array | None = None) -> Tables:
    """What every query is scored against: the user tower's view of every item's vector (a graph
    tower's propagation), made once per evaluation; `items`: those vectors `(vocab, D)` when
    they are not the item tower's (`item_table`)."""
    return self._tables(states, self.item_table(states) if items is None else items)

  def ranks(self, states, split: str) -> tuple[np.ndarray, evaluators_lib.EvalUsers]:
    """Each user's target rank `(num_users,)` in user order, and what evaluators know of the
    users; both come back from the devices, so a process needs no row but its own."""
    tables = self.tables(states)
    dataset = pipeline.eval_dataset(self._data, split, self._config.batch_size, self._process)
    outputs = [jax.device_get(self._ranks(states, tables,
                                          sharding.global_batch(batch, self._batch_sharding)))
               for batch in self._progress(dataset, len(dataset), split)]
    users = self._data.num_users
    joined = {name: np.concatenate([o[name] for o in outputs])[:users] for name in outputs[0]}
    counts = self._data.train_item_counts()
    return joined['ranks'], evaluators_lib.EvalUsers(
        joined['targets'], counts[joined['targets']], joined['history_lengths'])

  def lower(self, states, clip_shape=None) -> dict[str, tuple[jax.stages.Lowered, int]]:
    """The evaluation functions lowered on abstract inputs (ahead-of-time reports), each with
    the trips of its loop over blocks (1: none): XLA's cost analysis counts a loop's body once."""
    struct = lambda shape, dtype, sharded=True: jax.ShapeDtypeStruct(
        shape, dtype, sharding=self._batch_sharding if sharded else None)
    if self._encodes:
      chunk = self._config.encode_batch
      inputs = ({pipeline.CLIPS: struct((chunk,) + tuple(clip_shape), jnp.uint8)}
                if self._clip_table is None else
                {pipeline.CLIP_ITEMS: struct((chunk,), jnp.int32)})
      lowered = {'item table (one chunk)': self._encode.lower(states, inputs, self._clip_table)}
      row = jax.eval_shape(self._encode_fn, states, inputs, self._clip_table)
      table = struct((self._data.num_items + 1,) + row.shape[1:], row.dtype, sharded=False)
    else:
      lowered = {'item table': self._table.lower(states)}
      table = jax.eval_shape(self._table_fn, states)
    size, length = self._config.batch_size, self._data.max_seq_len
    batch = {'inputs': struct((size, length), jnp.int32),
             'targets': struct((size,), jnp.int32),
             'history': struct((size, length + 2), jnp.int32),
             pipeline.USER_IDS: struct((size,), jnp.int32),
             'weights': struct((size,), jnp.float32)}
    lowered['user tower tables'] = self._tables.lower(states, table)
    # The ranking reads the tables as a run makes them: laid out as the compiler lays out their
    # function's outputs (a graph tower's users split over the mesh), not replicated. (For a
    # TPU topology, the compiler reports a replicated output on a host device.)
    mesh = self._batch_sharding.mesh
    on_mesh = lambda layout: (layout if layout.device_set == set(mesh.devices.flat)
                              else sharding.replicated(mesh))
    tables = jax.tree.map(
        lambda shape, layout: jax.ShapeDtypeStruct(shape.shape, shape.dtype,
                                                   sharding=on_mesh(layout)),
        jax.eval_shape(self._tables_fn, states, table),
        lowered['user tower tables'].compile().output_shardings)
    lowered['ranking (one batch)'] = self._ranks.lower(states, tables, batch)
    blocks = {'ranking (one batch)': self.ranking_blocks(size, tables.items.shape[0])}
    return {name: (function, blocks.get(name, 1)) for name, function in lowered.items()}

  def compiled_variants(self) -> dict[str, int]:
    """How many shapes each evaluation function has compiled for (retrace checks)."""
    return {name: fn._cache_size()  # pylint: disable=protected-access
            for name, fn in (('table', self._table), ('encode', self._encode),
                             ('tables', self._tables), ('ranks', self._ranks))}

  def run(self, states, split: str, evaluators: Sequence[str] = ()) -> dict[str, Any]:
    """`HR@K`/`NDCG@K` over all users, plus the named evaluators' summaries."""
    ranks, users = self.ranks(states, split)
    return evaluators_lib.summarise(ranks, users, self._config, evaluators)
