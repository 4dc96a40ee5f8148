"""Grain pipelines: shuffled training batches, ordered evaluation batches, every item's clips.

Every process computes the same global order of rows and takes its contiguous slice of each
global batch, so `jax.make_array_from_process_local_data` assembles the global batch on a
multi-host mesh. An epoch is padded with empty rows (all-padding rows carry no loss and mask out
of the in-batch negatives), so nothing is dropped. A short run pads every batch's real queries
and distinct items to the largest counts of its first batches (`planned_counts`), so it compiles
one step shape; a long one rounds each batch up to its own bucket.
"""

from __future__ import annotations

import dataclasses

import grain
import numpy as np

from jaxlens.data import clip_table
from jaxlens.data.clips import distinct_items
from jaxlens.data.protocol import Interactions, split_columns
from jaxlens.data.tasks import Task, TrainRows
from jaxlens.errors import JaxlensError

ITEM_IDS, NEGATIVE_IDS, USER_IDS = 'item_ids', 'negative_ids', 'user_ids'
NUM_POSITIONS = 'num_positions'  # the global batch's real queries (host-side, not a device array)
# A batch's distinct items: their uint8 clips `(U, T, H, W, 3)` (or their ids `(U,)` when the
# clips live on the devices), and a mask `(U,)`: 1 for a distinct item, 0 for a filler repeat.
CLIPS, CLIP_ITEMS, CLIP_MASK = 'clips', 'clip_items', 'clip_mask'


def clip_index(field: str) -> str:
  """Batch key of each id's position in the distinct-clip list, for id field `field`."""
  return f'{field}/clip'


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


def negative_candidates(rng: np.random.Generator, shape: tuple[int, int], num_items: int,
                        draws: int = 8) -> np.ndarray:
  """`draws` uniform items per query of a global batch `shape` (B, T)."""
  return rng.integers(1, num_items + 1, size=shape + (draws,))


def sample_negatives(candidates: np.ndarray, item_ids: np.ndarray,
                     query_mask: np.ndarray) -> np.ndarray:
  """One item per query `(B, T)`, the first of its candidates not in the row (MoRec's BCE);
  0 where there is no query."""
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
  # The clips live on the devices (`clip_items` ids travel instead of pixels).
  clips_on_device: bool = False
  clip_multiple: int = 1  # the distinct-clip list is padded to a multiple of this
  # ... and to at least this many entries (a multiple of `clip_multiple` x processes): the
  # run's planned shape (`planned_counts`), so that batches within the plan share one shape.
  distinct_floor: int = 0
  # The data shards of the device clip table: each shard's segment of the list holds the items
  # whose clips it holds (`clip_table`).
  clip_shards: int = 1

  @property
  def distinct(self) -> bool:
    return self.clips is not None or self.clips_on_device


class _TrainBatch:
  """Global row indices -> this process's part of the batch; indices past the end are empty
  rows.

  A process reads the rows of its slice only; batches of towers with per-item inputs (clips)
  read every row's ids, since the distinct-item list is the global batch's.
  `num_positions` counts this process's real queries; the loop sums them over processes.
  """

  def __init__(self, rows: TrainRows, layout: BatchLayout, process: ProcessSlice):
    self._rows, self._layout, self._process = rows, layout, process

  def __call__(self, indices: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    layout, process = self._layout, self._process
    indices = np.asarray(indices)
    read = indices if layout.distinct else process.take(indices)
    item_ids, user_ids = self._rows.take(read)
    ids = {ITEM_IDS: item_ids}
    queries = layout.task.query_mask(item_ids)
    if layout.negatives:
      candidates = negative_candidates(rng, (len(indices), queries.shape[1]), layout.num_items)
      ids[NEGATIVE_IDS] = sample_negatives(
          candidates if layout.distinct else process.take(candidates), item_ids, queries)
    take = process.take if layout.distinct else (lambda local: local)
    batch = {name: take(value) for name, value in ids.items()}
    batch[USER_IDS] = take(user_ids)
    batch[NUM_POSITIONS] = np.int64(np.count_nonzero(take(queries)))
    if layout.distinct:
      items, index, mask = distinct_items(ids, layout.clip_multiple * process.count,
                                          layout.distinct_floor, layout.clip_shards)
      if layout.clips_on_device:
        batch[CLIP_ITEMS] = take(items).astype(np.int32)
      else:
        batch[CLIPS] = layout.clips[take(items)]
      batch[CLIP_MASK] = take(mask)
      batch.update({clip_index(name): take(value) for name, value in index.items()})
    return batch


def steps_per_epoch(num_rows: int, global_batch: int) -> int:
  return padded_length(num_rows, global_batch) // global_batch


@dataclasses.dataclass(frozen=True)
class ReadOptions:
  """How the host prepares batches ahead of the device (`config.data.loader`)."""

  worker_processes: int = 0  # Grain `mp_prefetch` workers; 0 = threads in this process
  threads: int = 2  # threads per process reading and transforming batches
  prefetch: int = 2  # batches prepared ahead (each can hold a whole batch of decoded clips)


def train_dataset(rows: TrainRows, layout: BatchLayout, global_batch: int, num_epochs: int,
                  seed: int, process: ProcessSlice = ProcessSlice(), start_step: int = 0,
                  options: ReadOptions = ReadOptions()) -> grain.IterDataset:
  """Reshuffled each epoch from `seed`; each batch holds this process's rows, and
  `num_positions`, the same count on every process (so all compile the same shapes).

  Batch i depends on `seed` and i alone (a random-access dataset), so a resumed run starts at
  `start_step`, the train step it restored: no iterator state to save, and resuming works with
  another number of processes, devices or loader workers.
  """
  process.local_size(global_batch)
  ds = _batches(rows, layout, global_batch, num_epochs, seed, process)[start_step:]
  return to_iterator(ds, options)


def _batches(rows: TrainRows, layout: BatchLayout, global_batch: int, num_epochs: int, seed: int,
             process: ProcessSlice) -> grain.MapDataset:
  total = padded_length(len(rows), global_batch)
  ds = grain.MapDataset.range(total).seed(seed).shuffle().repeat(num_epochs)
  return ds.batch(global_batch).random_map(_TrainBatch(rows, layout, process))


PLANNED_BATCHES, PLANNED_EPOCHS = 256, 4


def planned_counts(rows: TrainRows, layout: BatchLayout, global_batch: int, seed: int,
                   process: ProcessSlice = ProcessSlice()) -> np.ndarray:
  """`(batches, 2)`: this process's share of the real queries and of the distinct-item list
  (its entries, the fillers of the clip table's shards included; 0 without per-item inputs) of
  each batch of a run's first `PLANNED_EPOCHS` epochs (at most `PLANNED_BATCHES` batches), ids
  only; summed over processes, the global counts.

  A short run pads every batch to the largest of these (`loop.plan_shapes`). The batches read
  depend on `seed` alone, not on the run's epochs or where it resumes: every session of a run,
  and a run of more epochs, plans the same shapes.
  """
  ids_only = dataclasses.replace(layout, clips=None, clips_on_device=layout.distinct,
                                 distinct_floor=0)
  steps = steps_per_epoch(len(rows), global_batch)
  batches = min(PLANNED_BATCHES, PLANNED_EPOCHS * steps)
  ds = _batches(rows, ids_only, global_batch, -(-batches // steps), seed, process)
  counts = [(batch[NUM_POSITIONS], len(batch[CLIP_MASK]) if layout.distinct else 0)
            for batch in (ds[step] for step in range(batches))]
  return np.asarray(counts, np.int64)


def to_iterator(ds: grain.MapDataset, options: ReadOptions) -> grain.IterDataset:
  iterator = ds.to_iter_dataset(grain.ReadOptions(num_threads=options.threads,
                                                  prefetch_buffer_size=options.prefetch))
  if options.worker_processes:
    iterator = iterator.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=options.worker_processes))
  return iterator


class _EvalBatch:
  """This process's users of an evaluation batch, read from the data by user; users past the
  last are padding with weight 0."""

  def __init__(self, data, split: str, process: ProcessSlice):
    self._data, self._split, self._process = data, split, process

  def __call__(self, user_indices: np.ndarray) -> dict[str, np.ndarray]:
    local = self._process.take(np.asarray(user_indices))
    real = local < self._data.num_users
    rows = np.zeros((len(local), self._data.max_seq_len + 3), np.int32)
    if real.any():
      rows[real] = self._data.rows(local[real])
    inputs, targets, history = split_columns(rows, self._split, self._data.max_seq_len)
    return {'inputs': inputs, 'targets': targets, 'history': history,
            USER_IDS: np.where(real, local, 0).astype(np.int32),
            'weights': real.astype(np.float32)}


def eval_dataset(data: Interactions, split: str, global_batch: int,
                 process: ProcessSlice = ProcessSlice()) -> grain.MapDataset:
  """Users in order; `weights` is 0 on the padding rows of the last batch."""
  process.local_size(global_batch)
  users = padded_length(data.num_users, global_batch)
  return grain.MapDataset.range(users).batch(global_batch).map(
      _EvalBatch(data, split, process))


class _ItemClips:

  def __init__(self, clips, num_items: int, process: ProcessSlice, shards: int):
    self._clips, self._num_items, self._process = clips, num_items, process
    self._shards = shards

  def __call__(self, ids: np.ndarray) -> dict[str, np.ndarray]:
    if self._clips is None:  # on the devices: each id on the shard that holds its clip
      ids = ids[clip_table.owner_order(ids, self._shards)]
      ids = np.where(ids > self._num_items, ids % self._shards, ids)  # filler: a row of its shard
      return {CLIP_ITEMS: self._process.take(ids).astype(np.int32)}
    ids = self._process.take(np.where(ids > self._num_items, 0, ids))  # filler: blank clips
    return {CLIPS: self._clips[ids]}


def item_clips_dataset(clips, num_items: int, chunk: int,
                       process: ProcessSlice = ProcessSlice(),
                       table_shards: int = 1) -> grain.MapDataset:
  """Items 1..num_items in chunks of `chunk` clips, for evaluation's item table; with
  `clips=None` (clips on the devices, split over `table_shards`), their ids, in the same order
  in every chunk: `clip_table.owner_order` of `1..chunk`."""
  process.local_size(chunk)
  total = padded_length(num_items, chunk)
  return grain.MapDataset.range(1, total + 1).batch(chunk).map(
      _ItemClips(clips, num_items, process, table_shards))
