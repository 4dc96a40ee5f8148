"""Grain pipelines: shuffled training batches, ordered evaluation batches, every item's clips.

Every process computes the same global order of rows and takes its contiguous slice of each
global batch, so `jax.make_array_from_process_local_data` assembles the global batch on a
multi-host mesh. Shapes are static: an epoch is padded with empty rows (all-padding rows carry
no loss and mask out of the in-batch negatives), so nothing is dropped and nothing recompiles.
"""

from __future__ import annotations

import dataclasses

import grain
import numpy as np

from jaxlens.data.clips import distinct_items
from jaxlens.data.protocol import Interactions
from jaxlens.data.tasks import Task, TrainRows
from jaxlens.errors import JaxlensError

ITEM_IDS, NEGATIVE_IDS, USER_IDS = 'item_ids', 'negative_ids', 'user_ids'
NUM_POSITIONS = 'num_positions'  # the global batch's real queries (host-side, not a device array)


@dataclasses.dataclass(frozen=True)
class ProcessSlice:
  """Which part of a global batch this process loads."""

  index: int = 0
  count: int = 1

  def local_size(self, global_batch: int) -> int:
    if global_batch % self.count:
      raise JaxlensError(
          f'batch size {global_batch} is not divisible by the {self.count} JAX processes')
    return global_batch // self.count

  def take(self, global_rows: np.ndarray) -> np.ndarray:
    size = len(global_rows) // self.count
    return global_rows[self.index * size:(self.index + 1) * size]


def padded_length(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


def sample_negatives(rng: np.random.Generator, item_ids: np.ndarray, query_mask: np.ndarray,
                     num_items: int, draws: int = 8) -> np.ndarray:
  """One item per query `(B, T)`, uniform over items not in the row (the first of `draws` that
  is not; MoRec's BCE); 0 where there is no query."""
  batch, steps = query_mask.shape
  candidates = rng.integers(1, num_items + 1, size=(batch, steps, draws))
  clash = (candidates[..., None] == item_ids[:, None, None, :]).any(axis=-1)
  first_free = np.argmax(~clash, axis=-1)
  chosen = np.take_along_axis(candidates, first_free[..., None], axis=-1)[..., 0]
  return np.where(query_mask, chosen, 0).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class BatchLayout:
  """What a training batch carries besides the rows' ids."""

  task: Task
  num_items: int
  negatives: bool = False  # a sampled negative per query (losses that need them)
  clips: object = None  # a `ClipStore`: the distinct items' clips (video towers)
  clip_multiple: int = 1  # the distinct-clip list is padded to a multiple of this


class _TrainBatch:
  """Global row indices -> this process's part of the batch; indices past the end are empty
  rows."""

  def __init__(self, rows: TrainRows, layout: BatchLayout, process: ProcessSlice):
    pad = lambda a: np.concatenate([a, np.zeros((1,) + a.shape[1:], a.dtype)])
    self._items, self._users = pad(rows.item_ids), pad(rows.user_ids)
    self._layout, self._process = layout, process

  def __call__(self, indices: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    indices = np.minimum(indices, len(self._items) - 1)
    layout, take = self._layout, self._process.take
    ids = {ITEM_IDS: self._items[indices]}
    queries = layout.task.query_mask(ids[ITEM_IDS])
    if layout.negatives:
      ids[NEGATIVE_IDS] = sample_negatives(rng, ids[ITEM_IDS], queries, layout.num_items)
    batch = {name: take(value) for name, value in ids.items()}
    batch[USER_IDS] = take(self._users[indices])
    batch[NUM_POSITIONS] = np.int64(np.count_nonzero(queries))
    if layout.clips is not None:
      items, index, mask = distinct_items(ids, layout.clip_multiple * self._process.count)
      batch['clips'] = layout.clips[take(items)]
      batch['clip_mask'] = take(mask)
      batch.update({f'{name}/clip': take(value) for name, value in index.items()})
    return batch


def steps_per_epoch(num_rows: int, global_batch: int) -> int:
  return padded_length(num_rows, global_batch) // global_batch


def train_dataset(rows: TrainRows, layout: BatchLayout, global_batch: int, num_epochs: int,
                  seed: int, process: ProcessSlice = ProcessSlice()) -> grain.IterDataset:
  """Reshuffled each epoch from `seed`; each batch holds this process's rows, and
  `num_positions`, the same count on every process (so all compile the same shapes)."""
  process.local_size(global_batch)
  total = padded_length(len(rows.user_ids), global_batch)
  ds = grain.MapDataset.range(total).seed(seed).shuffle().repeat(num_epochs)
  return ds.batch(global_batch).random_map(_TrainBatch(rows, layout, process)).to_iter_dataset()


class _EvalBatch:

  def __init__(self, data: Interactions, split: str, process: ProcessSlice):
    inputs, targets, history = data.eval_split(split)
    arrays = {'inputs': inputs, 'targets': targets, 'history': history,
              USER_IDS: np.arange(data.num_users, dtype=np.int32),
              'weights': np.ones(len(targets), np.float32)}
    self._arrays = {k: np.concatenate([v, np.zeros_like(v[:1])]) for k, v in arrays.items()}
    self._process = process

  def __call__(self, user_indices: np.ndarray) -> dict[str, np.ndarray]:
    local = np.minimum(self._process.take(user_indices), len(self._arrays['weights']) - 1)
    return {k: v[local] for k, v in self._arrays.items()}


def eval_dataset(data: Interactions, split: str, global_batch: int,
                 process: ProcessSlice = ProcessSlice()) -> grain.MapDataset:
  """Users in order; `weights` is 0 on the padding rows of the last batch."""
  process.local_size(global_batch)
  users = padded_length(data.num_users, global_batch)
  return grain.MapDataset.range(users).batch(global_batch).map(
      _EvalBatch(data, split, process))


class _ItemClips:

  def __init__(self, clips, num_items: int, process: ProcessSlice):
    self._clips, self._num_items, self._process = clips, num_items, process

  def __call__(self, ids: np.ndarray) -> dict[str, np.ndarray]:
    ids = np.where(ids > self._num_items, 0, ids)  # the last chunk's filler: blank clips
    return {'clips': self._clips[self._process.take(ids)]}


def item_clips_dataset(clips, num_items: int, chunk: int,
                       process: ProcessSlice = ProcessSlice()) -> grain.MapDataset:
  """Items 1..num_items in chunks of `chunk` clips, for evaluation's item table."""
  process.local_size(chunk)
  total = padded_length(num_items, chunk)
  return grain.MapDataset.range(1, total + 1).batch(chunk).map(
      _ItemClips(clips, num_items, process))
