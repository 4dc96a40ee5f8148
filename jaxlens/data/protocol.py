"""The MicroLens evaluation protocol, as one padded array per dataset.

Per user, the last `max_seq_len + 3` items are kept (users with fewer than `min_seq_len` items are
dropped), items are renumbered 1..N in increasing original-id order (0 is padding), and the split
is leave-one-out by position: train `s[:-2]`, valid target `s[-2]`, test target `s[-1]`; as
the reference's `Code/VideoRec/SASRec/utils/load_data.py` (`read_behaviors`).

Warm-N (the paper's Table 8, `min_item_interactions`): first, items with fewer than N
interactions in the raw file are removed from every history; then users are filtered and
truncated as above, on what is left.

Everything downstream is a column slice of one left-padded `(users, max_seq_len + 3)` array, so the
train slots, evaluation inputs and the histories to mask cannot disagree.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from jaxlens.data.pairs import UserHistory
from jaxlens.errors import JaxlensError

_USER_BLOCK = 1 << 20  # users whose training interactions are listed at once


@dataclasses.dataclass(frozen=True)
class Interactions:
  """Protocol output: renumbered, truncated, left-padded user sequences."""

  sequences: np.ndarray  # int32 (users, max_seq_len + 3), left-padded with 0
  original_item_ids: np.ndarray  # int64 (num_items + 1,): new id -> dataset id; [0] = 0
  users: tuple[str, ...]
  max_seq_len: int

  @property
  def num_users(self) -> int:
    return self.sequences.shape[0]

  @property
  def num_items(self) -> int:
    return len(self.original_item_ids) - 1

  @property
  def num_interactions(self) -> int:
    return int(np.count_nonzero(self.sequences))

  @property
  def train_slots(self) -> np.ndarray:
    """`(users, L + 1)`: `s[:-2]`, left-padded; slot t is the input whose target is slot t+1."""
    return self.sequences[:, :-2]

  def rows(self, user_indices) -> np.ndarray:
    """Users' sequences `(n, L + 3)`: what training and evaluation read, by user."""
    return self.sequences[user_indices]

  def train_interactions(self) -> tuple[np.ndarray, np.ndarray]:
    """(user, slot) of every training interaction `(N,)` each (int32), user-major in time order;
    repeats are separate interactions. Found a block of users at a time: the full MicroLens
    has 379 million, and `np.nonzero` of them all makes two int64 arrays of 3 GB each."""
    train = self.train_slots
    users = np.empty(np.count_nonzero(train), np.int32)
    slots = np.empty_like(users)
    done = 0
    for start in range(0, len(train), _USER_BLOCK):
      block_users, block_slots = np.nonzero(train[start:start + _USER_BLOCK])
      users[done:done + len(block_users)] = block_users + start
      slots[done:done + len(block_slots)] = block_slots
      done += len(block_users)
    return users, slots

  def eval_split(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (inputs `(U, L)`, targets `(U,)`, history to mask `(U, L+1 or L+2)`)."""
    return split_columns(self.sequences, split, self.max_seq_len)

  def train_item_counts(self) -> np.ndarray:
    """Occurrences of each item over all train lists (repeats counted), `(num_items + 1,)`."""
    counts = np.bincount(self.train_slots.ravel(), minlength=self.num_items + 1)
    counts[0] = 0
    return counts

  def log_popularity(self, power: float = 1.0) -> np.ndarray:
    return log_popularity(self.train_item_counts(), power)


def split_columns(rows: np.ndarray, split: str, max_seq_len: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(inputs `(n, L)`, targets `(n,)`, history to mask) of protocol rows `(n, L + 3)` for a
  split: valid masks `s[:-2]` and predicts `s[-2]`, test masks `s[:-1]` and predicts `s[-1]`."""
  if split == 'valid':
    history, target = rows[:, :-2], rows[:, -2]
  elif split == 'test':
    history, target = rows[:, :-1], rows[:, -1]
  else:
    raise ValueError(f'unknown split {split!r}')
  return history[:, -max_seq_len:], target, history


def log_popularity(train_item_counts: np.ndarray, power: float = 1.0) -> np.ndarray:
  """log of the train-count popularity used for the logQ correction.

  Padding and items never trained on get 0 (the reference's log 1 and -inf): they never enter
  an in-batch logit matrix unmasked, and a finite value keeps masked arithmetic NaN-free.
  """
  counts = np.asarray(train_item_counts, np.float64) ** power
  log_pop = np.zeros_like(counts)
  seen = counts > 0
  log_pop[seen] = np.log(counts[seen] / counts[seen].sum())
  return log_pop.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class ProtocolSummary:
  """A protocol output without its rows: what every training process holds whole, while it
  reads the rows of its own users only. Built datasets store it as JSON metadata."""

  max_seq_len: int
  min_seq_len: int
  num_users: int
  num_interactions: int
  original_item_ids: np.ndarray  # int64 (num_items + 1,): new id -> dataset id; [0] = 0
  train_item_counts: np.ndarray  # int64 (num_items + 1,): as `Interactions.train_item_counts`

  @property
  def num_items(self) -> int:
    return len(self.original_item_ids) - 1

  @classmethod
  def of(cls, data: Interactions, min_seq_len: int) -> ProtocolSummary:
    return cls(data.max_seq_len, min_seq_len, data.num_users, data.num_interactions,
               data.original_item_ids, data.train_item_counts().astype(np.int64))

  def to_json(self) -> dict:
    return {'max_seq_len': self.max_seq_len, 'min_seq_len': self.min_seq_len,
            'num_users': self.num_users, 'num_items': self.num_items,
            'num_interactions': self.num_interactions,
            'original_item_ids': self.original_item_ids.tolist(),
            'train_item_counts': self.train_item_counts.tolist()}

  @classmethod
  def from_json(cls, value: dict) -> ProtocolSummary:
    return cls(value['max_seq_len'], value['min_seq_len'], value['num_users'],
               value['num_interactions'], np.asarray(value['original_item_ids'], np.int64),
               np.asarray(value['train_item_counts'], np.int64))


def _warm_items(histories: Sequence[UserHistory], min_interactions: int) -> list[UserHistory]:
  """Histories without the items that have fewer than `min_interactions` interactions."""
  ids, counts = np.unique(np.concatenate([h.items for h in histories]), return_counts=True)
  rare = ids[counts < min_interactions]
  warm = []
  for h in histories:
    keep = ~np.isin(h.items, rare)
    warm.append(UserHistory(h.user, h.items[keep],
                            None if h.timestamps is None else h.timestamps[keep]))
  return warm


def check_parameters(max_seq_len: int, min_seq_len: int) -> None:
  if min_seq_len < 3:
    raise JaxlensError(f'data.min_seq_len={min_seq_len}: leave-one-out needs at least 3 items')
  if max_seq_len < 1:
    raise JaxlensError(f'data.max_seq_len={max_seq_len} must be positive')


def kept_part(history: UserHistory, max_seq_len: int, min_seq_len: int) -> UserHistory | None:
  """What the protocol keeps of one user: None below `min_seq_len` items, else the last
  `max_seq_len + 3` (with their timestamps)."""
  if len(history.items) < min_seq_len:
    return None
  keep = max_seq_len + 3
  stamps = history.timestamps
  return UserHistory(history.user, history.items[-keep:],
                     None if stamps is None else stamps[-keep:])


def no_user_kept(min_seq_len: int) -> JaxlensError:
  return JaxlensError(f'no user has at least data.min_seq_len={min_seq_len} interactions')


def renumber(items: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
  """Original ids -> 1..N, N = len(vocabulary), the sorted original ids of the kept items."""
  return (np.searchsorted(vocabulary, items) + 1).astype(np.int32)


def train_part(sequence: np.ndarray) -> np.ndarray:
  """The items of a kept, renumbered sequence that training sees: all but the last two."""
  return sequence[:-2]


def padded(kept: Sequence[UserHistory], max_seq_len: int) -> Interactions:
  """Renumbers and left-pads kept histories (`kept_part`) into one array."""
  original_ids = np.unique(np.concatenate([h.items for h in kept]))
  sequences = np.zeros((len(kept), max_seq_len + 3), np.int32)
  for row, history in enumerate(kept):
    sequences[row, sequences.shape[1] - len(history.items):] = renumber(history.items,
                                                                        original_ids)
  return Interactions(
      sequences=sequences,
      original_item_ids=np.concatenate([[0], original_ids]).astype(np.int64),
      users=tuple(h.user for h in kept),
      max_seq_len=max_seq_len,
  )


def kept_histories(histories: Sequence[UserHistory], max_seq_len: int = 10,
                   min_seq_len: int = 5) -> list[UserHistory]:
  check_parameters(max_seq_len, min_seq_len)
  kept = [part for h in histories
          if (part := kept_part(h, max_seq_len, min_seq_len)) is not None]
  if not kept:
    raise no_user_kept(min_seq_len)
  return kept


def apply_protocol(histories: Sequence[UserHistory], max_seq_len: int = 10,
                   min_seq_len: int = 5, min_item_interactions: int = 0) -> Interactions:
  """Filters, truncates, renumbers and pads, exactly as the reference's `read_behaviors`
  (after the warm-N item filter when `min_item_interactions` > 0)."""
  if min_item_interactions < 0:
    raise JaxlensError(f'data.min_item_interactions={min_item_interactions} must be 0 or more')
  if min_item_interactions > 1:
    histories = _warm_items(histories, min_item_interactions)
  return padded(kept_histories(histories, max_seq_len, min_seq_len), max_seq_len)
