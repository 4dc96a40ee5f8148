"""The MicroLens evaluation protocol (reference section 1.2), as one padded array per dataset.

Per user, the last `max_seq_len + 3` items are kept (users with fewer than `min_seq_len` items are
dropped), items are renumbered 1..N in increasing original-id order (0 is padding), and the split
is leave-one-out by position: train `s[:-2]`, valid target `s[-2]`, test target `s[-1]`.

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

  def eval_split(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (inputs `(U, L)`, targets `(U,)`, history to mask `(U, L+1 or L+2)`)."""
    s, length = self.sequences, self.max_seq_len
    if split == 'valid':  # history s[:-2]; inputs its last L items
      history, target = s[:, :-2], s[:, -2]
    elif split == 'test':  # history s[:-1]
      history, target = s[:, :-1], s[:, -1]
    else:
      raise ValueError(f'unknown split {split!r}')
    return history[:, -length:], target, history

  def train_item_counts(self) -> np.ndarray:
    """Occurrences of each item over all train lists (repeats counted), `(num_items + 1,)`."""
    counts = np.bincount(self.train_slots.ravel(), minlength=self.num_items + 1)
    counts[0] = 0
    return counts

  def log_popularity(self, power: float = 1.0) -> np.ndarray:
    """log of the train-count popularity used for the logQ correction.

    Padding and items never trained on get 0 (the reference's log 1 and -inf): they never enter
    an in-batch logit matrix unmasked, and a finite value keeps masked arithmetic NaN-free.
    """
    counts = self.train_item_counts().astype(np.float64) ** power
    log_pop = np.zeros_like(counts)
    seen = counts > 0
    log_pop[seen] = np.log(counts[seen] / counts[seen].sum())
    return log_pop.astype(np.float32)


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


def apply_protocol(histories: Sequence[UserHistory], max_seq_len: int = 10,
                   min_seq_len: int = 5, min_item_interactions: int = 0) -> Interactions:
  """Filters, truncates, renumbers and pads, exactly as the reference's `read_behaviors`
  (after the warm-N item filter when `min_item_interactions` > 0)."""
  if min_item_interactions < 0:
    raise JaxlensError(f'data.min_item_interactions={min_item_interactions} must be 0 or more')
  if min_item_interactions > 1:
    histories = _warm_items(histories, min_item_interactions)
  if min_seq_len < 3:
    raise JaxlensError(f'data.min_seq_len={min_seq_len}: leave-one-out needs at least 3 items')
  if max_seq_len < 1:
    raise JaxlensError(f'data.max_seq_len={max_seq_len} must be positive')
  keep = max_seq_len + 3
  kept = [(h.user, h.items[-keep:]) for h in histories if len(h.items) >= min_seq_len]
  if not kept:
    raise JaxlensError(f'no user has at least data.min_seq_len={min_seq_len} interactions')
  original_ids = np.unique(np.concatenate([items for _, items in kept]))
  sequences = np.zeros((len(kept), keep), np.int32)
  for row, (_, items) in enumerate(kept):
    sequences[row, keep - len(items):] = np.searchsorted(original_ids, items) + 1
  return Interactions(
      sequences=sequences,
      original_item_ids=np.concatenate([[0], original_ids]).astype(np.int64),
      users=tuple(user for user, _ in kept),
      max_seq_len=max_seq_len,
  )
