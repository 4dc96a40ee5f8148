"""Training sample layouts: what one row of a training batch is, for each kind of user tower.

- `sequence` (SASRec, GRU4Rec, NextItNet): one row per user per epoch, the train slots `s[:-2]`
  left-padded to L+1. Input slot t predicts slot t+1, and every real input trains.
- `pair` (DSSM, LightGCN, MMGCN, GRCN): one row per training interaction, the item alone, as
  the reference's `PairTrainDataset` (`Code/IDRec/DSSM/REC/data/dataset/trainset.py`).
- `history` (NFM, DeepFM): one row per training interaction: the user's other training items
  (in order, the last L, left-padded), then the item; not causal, as the reference's
  `SampleOneTowerTrainDataset` (same file).

A row is `item_ids (S,)` and its user; it has T query steps, and step t's target is slot
t + S - T. Every layout comes from the same protocol arrays, so users, items, splits and
popularity are the sequential models' exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

import numpy as np

from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError


class TrainRows(Protocol):
  """The rows of an epoch, by index."""

  def __len__(self) -> int:
    ...

  def take(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(item_ids `(n, S)` int32 left-padded, user_ids `(n,)`) of rows `indices`; an index past
    the last row gives an empty row (item ids 0), which pads the last batch of an epoch."""
    ...


@dataclasses.dataclass(frozen=True)
class ArrayRows:
  """Rows built in memory (one per training interaction)."""

  item_ids: np.ndarray  # int32 (N, S), left-padded with 0
  user_ids: np.ndarray  # int32 (N,)

  def __len__(self) -> int:
    return len(self.user_ids)

  def take(self, indices):
    real = indices < len(self)
    clipped = np.where(real, indices, 0)
    return (np.where(real[:, None], self.item_ids[clipped], 0).astype(np.int32),
            np.where(real, self.user_ids[clipped], 0).astype(np.int32))


@dataclasses.dataclass(frozen=True)
class UserRows:
  """One row per user, read from the data on demand (`rows(user_indices)`): in memory, or from
  a built dataset by the users of this process's slice only (`jaxlens.data.sharded`)."""

  data: Any  # Interactions or sharded.ShardedInteractions

  def __len__(self) -> int:
    return self.data.num_users

  def take(self, indices):
    real = indices < len(self)
    slots = np.zeros((len(indices), self.data.max_seq_len + 1), np.int32)
    if real.any():
      slots[real] = self.data.rows(indices[real])[:, :-2]
    return slots, np.where(real, indices, 0).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  rows: Callable[[Interactions], TrainRows]
  causal: bool  # one query per input slot (step t sees slots <= t), else one query per row

  def query_mask(self, item_ids):
    """`(B, T)`: the real queries of a batch (numpy or jax arrays)."""
    return item_ids[:, :-1] != 0 if self.causal else item_ids[:, -1:] != 0

  def target_offset(self, slots: int) -> int:
    """Step t's target is slot t + offset."""
    return 1 if self.causal else slots - 1


def _sequence_rows(data) -> TrainRows:
  return UserRows(data)


def _pair_rows(data: Interactions) -> TrainRows:
  users, slots = data.train_interactions()
  return ArrayRows(data.train_slots[users, slots][:, None], users)


def _history_rows(data: Interactions) -> TrainRows:
  """Deleting one slot of a left-padded row leaves the others in order, still left-padded."""
  users, slots = data.train_interactions()
  train = data.train_slots
  width = train.shape[1]
  others = np.empty((len(users), width - 1), np.int32)
  for slot in range(width):  # all users' interactions at this slot at once
    at = slots == slot
    others[at] = np.delete(train[users[at]], slot, axis=1)
  return ArrayRows(np.concatenate([others, train[users, slots][:, None]], axis=1), users)


TASKS = {task.name: task for task in (Task('sequence', _sequence_rows, causal=True),
                                      Task('pair', _pair_rows, causal=False),
                                      Task('history', _history_rows, causal=False))}


def get(name: str) -> Task:
  if name not in TASKS:
    raise JaxlensError(f'unknown training task {name!r}; known: {", ".join(TASKS)}')
  return TASKS[name]
