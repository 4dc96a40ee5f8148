"""Ranked items for users: the evaluation's queries and scores, then the sharded exact top K.

Each batch of users goes through the model exactly as an evaluation batch does (`eval_queries`
after the known items, the user tower's `score` against the user tower's view of every item,
`Evaluation.tables`), then `retrieval.top_k` keeps each user's best K candidates. Seen items are
not candidates unless `keep_seen`. A table given from an export (`tables`) holds the items added
after training too.
"""

from __future__ import annotations

import jax
import numpy as np
import tqdm

from jaxlens import sharding
from jaxlens.data.pipeline import padded_length
from jaxlens.models.user_towers import Tables
from jaxlens.serving import retrieval
from jaxlens.serving.histories import Queries
from jaxlens.serving.restore import Restored


def _batches(queries: Queries, keep_seen: bool, size: int):
  """Host batches of `size` users, the last padded with empty rows (dropped afterwards)."""
  total = padded_length(len(queries.names), size)
  pad = lambda a: np.pad(a, [(0, total - len(a))] + [(0, 0)] * (a.ndim - 1))
  seen = np.zeros_like(queries.seen[:, :1]) if keep_seen else queries.seen
  inputs, user_ids, seen = pad(queries.inputs), pad(queries.user_ids), pad(seen)
  for start in range(0, total, size):
    yield {'inputs': inputs[start:start + size], 'user_ids': user_ids[start:start + size],
           'exclude': seen[start:start + size]}


def ranker(restored: Restored, k: int, num_items: int):
  """`rank(tables, batch) -> (scores, rows)`: the jitted top K of a batch of users."""
  mesh, rules = restored.mesh, restored.rules
  states = restored.states

  def rank(states, tables: Tables, batch):
    model = restored.evaluation.model(states)
    queries = model.eval_queries(tables, batch['inputs'], batch['user_ids'])
    return retrieval.top_k(model.score, queries, tables.items, batch['exclude'], k=k,
                           num_items=num_items, mesh=mesh, rules=rules)

  jitted = jax.jit(rank)
  return lambda tables, batch: jitted(states, tables, batch)


def query_vectors(restored: Restored, queries: Queries, tables: Tables,
                  show_progress: bool = False) -> np.ndarray:
  """float32 `(n, D)`: the asked users' query vectors (dot-product towers), batch by batch."""
  vectors = jax.jit(lambda states, tables, batch: restored.evaluation.model(states).eval_queries(
      tables, batch['inputs'], batch['user_ids']))
  size = restored.config.eval.batch_size
  batch_sharding = sharding.batch_sharding(restored.mesh, restored.rules)
  out = [np.asarray(jax.device_get(vectors(restored.states, tables, sharding.global_batch(
      batch, batch_sharding))), np.float32)
         for batch in tqdm.tqdm(_batches(queries, True, size), total=-(-len(queries.names) // size),
                                desc='users', unit='batch', disable=not show_progress,
                                leave=False, mininterval=1)]
  return np.concatenate(out)[:len(queries.names)]


def recommend(restored: Restored, queries: Queries, *, k: int, tables: Tables, num_items: int,
              keep_seen: bool = False, show_progress: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
  """(scores `(n, k)` float32, table rows `(n, k)` int32) of the asked users, best first, among
  table rows 1..`num_items`; a row past a user's last candidate has score `-inf`."""
  rank = ranker(restored, k, num_items)
  size = restored.config.eval.batch_size
  batch_sharding = sharding.batch_sharding(restored.mesh, restored.rules)
  total = -(-len(queries.names) // size)
  scores, rows = [], []
  for batch in tqdm.tqdm(_batches(queries, keep_seen, size), total=total, desc='users',
                         unit='batch', disable=not show_progress, leave=False, mininterval=1):
    batch_scores, batch_rows = jax.device_get(rank(tables, sharding.global_batch(
        batch, batch_sharding)))
    scores.append(batch_scores)
    rows.append(batch_rows)
  n = len(queries.names)
  return np.concatenate(scores)[:n], np.concatenate(rows)[:n].astype(np.int32)
