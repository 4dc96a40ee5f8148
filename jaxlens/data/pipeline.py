"""Grain pipelines: shuffled training batches and ordered evaluation batches.

Every process computes the same global order of users and takes its contiguous slice of each
global batch, so `jax.make_array_from_process_local_data` assembles the global batch on a
multi-host mesh. Shapes are static: an epoch is padded with empty users (all-padding rows carry
no loss and mask out of the in-batch negatives), so nothing is dropped and nothing recompiles.
"""

from __future__ import annotations

import dataclasses

import grain
import numpy as np

from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.data.clips import unique_items


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


class _GatherTrainRows:
  """Global user indices -> this process's rows; indices past the last user are empty rows.

  With a clip store (video tower), also the batch's distinct items' clips (this process's part
  of the list) and each slot's index in that global list.
  """

  def __init__(self, slots: np.ndarray, process: ProcessSlice, clips=None,
               unique_multiple: int = 1):
    self._slots = np.concatenate([slots, np.zeros((1, slots.shape[1]), slots.dtype)])
    self._process = process
    self._clips = clips
    self._unique_multiple = unique_multiple

  def __call__(self, user_indices: np.ndarray) -> dict[str, np.ndarray]:
    rows = self._slots[np.minimum(user_indices, len(self._slots) - 1)]
    batch = {'item_ids': self._process.take(rows),
             'num_positions': np.int64(np.count_nonzero(rows[:, :-1]))}
    if self._clips is not None:
      items, slot_index = unique_items(rows, self._unique_multiple * self._process.count)
      batch['clips'] = self._clips[self._process.take(items)]
      batch['slot_index'] = self._process.take(slot_index)
    return batch


def steps_per_epoch(num_users: int, global_batch: int) -> int:
  return padded_length(num_users, global_batch) // global_batch


def train_dataset(data: Interactions, global_batch: int, num_epochs: int, seed: int,
                  process: ProcessSlice = ProcessSlice(), clips=None,
                  unique_multiple: int = 1) -> grain.IterDataset:
  """Reshuffled each epoch from `seed`; each batch holds this process's rows.

  `{'item_ids': (local_batch, L + 1) int32, 'num_positions': the global batch's valid positions}`
  (every process sees the same count, so all compile the same shapes).
  """
  process.local_size(global_batch)
  users = padded_length(data.num_users, global_batch)
  ds = grain.MapDataset.range(users).seed(seed).shuffle().repeat(num_epochs)
  ds = ds.batch(global_batch).map(
      _GatherTrainRows(data.train_slots, process, clips, unique_multiple))
  return ds.to_iter_dataset()


class _GatherEvalRows:

  def __init__(self, data: Interactions, split: str, process: ProcessSlice):
    inputs, targets, history = data.eval_split(split)
    self._arrays = {
        'inputs': inputs, 'targets': targets, 'history': history,
        'weights': np.ones(len(targets), np.float32),
        'cold': (data.train_item_counts()[targets] == 0).astype(np.float32),
    }
    self._arrays = {k: np.concatenate([v, np.zeros_like(v[:1])]) for k, v in self._arrays.items()}
    self._process = process

  def __call__(self, user_indices: np.ndarray) -> dict[str, np.ndarray]:
    local = np.minimum(self._process.take(user_indices), len(self._arrays['weights']) - 1)
    return {k: v[local] for k, v in self._arrays.items()}


def eval_dataset(data: Interactions, split: str, global_batch: int,
                 process: ProcessSlice = ProcessSlice()) -> grain.MapDataset:
  """Users in order; `weights` is 0 on the padding rows of the last batch; `cold` marks
  targets never seen in training (the cold-start users)."""
  process.local_size(global_batch)
  users = padded_length(data.num_users, global_batch)
  return grain.MapDataset.range(users).batch(global_batch).map(
      _GatherEvalRows(data, split, process))
