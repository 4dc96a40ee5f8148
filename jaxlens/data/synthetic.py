"""Synthetic interactions and clips for tests, benchmarks and dry runs: no files needed.

    jaxlens synthetic --users 1400000 --items 100000 --interactions 10000000 \\
        --out MicroLens-1M_pairs.csv [--seed 0] [--min_length 5]

writes a MicroLens interactions file (`.csv`: `user,item,timestamp` rows grouped by user in time
order, as the official 100K csv; `.tsv`: one line per user) with the skew of the real
MicroLens-50K, deterministically from the seed, a chunk of users at a time: memory holds one
length per user, never the interactions.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np

from jaxlens import cli
from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import Interactions, apply_protocol
from jaxlens.errors import JaxlensError

# Fitted by maximum likelihood to MicroLens-50k_pairs.tsv (50,000 users, 19,220 items, 359,708
# interactions) with scipy.optimize (Nelder-Mead):
# - A sequence of length L >= min_length has probability proportional to
#   (L - min_length + LENGTH_OFFSET) ** -LENGTH_EXPONENT (support up to MAX_LENGTH). On the 50K
#   file: 40.8% of users at length 5 (real 40.7%), 3.3% at 10 (3.4%), 1.07% at 24 or more (1.10%),
#   mean 7.194 (7.194). Another mean (interactions / users) keeps the offset and solves for the
#   exponent.
# - The item at relative popularity rank x = (rank - 0.5) / items is drawn with weight
#   x ** -ITEM_RANK_EXPONENT * exp(-x / ITEM_RANK_CUTOFF): a power law with an exponential
#   cut-off. On the 50K file the top 1% of items get 7.3% of the interactions (real 7.9%), the
#   top 10% 37.7% (36.8%), the top half 86.1% (86.2%).
LENGTH_OFFSET, LENGTH_EXPONENT = 5.4853, 3.9013
ITEM_RANK_EXPONENT, ITEM_RANK_CUTOFF = 0.2404, 0.3635
MAX_LENGTH = 5000
# Not measured (the 50K release has no timestamps): users start in 2022, consecutive events are
# an exponential day apart on average, in whole seconds, and TIE_SHARE of them share a timestamp.
START_MS, SPAN_MS, MEAN_GAP_S, TIE_SHARE = 1_640_995_200_000, 365 * 86_400_000, 86_400, 0.02
USERS_PER_CHUNK = 65_536


@dataclasses.dataclass(frozen=True)
class InteractionSpec:
  """Size and seed of a synthetic interactions file; `interactions` None: the 50K's mean."""

  users: int
  items: int
  interactions: int | None = None
  seed: int = 0
  min_length: int = 5


def _length_weights(exponent: float, min_length: int) -> np.ndarray:
  lengths = np.arange(min_length, MAX_LENGTH + 1)
  weights = (lengths - min_length + LENGTH_OFFSET) ** -exponent
  return weights / weights.sum()


def _mean_length(exponent: float, min_length: int) -> float:
  return float(np.arange(min_length, MAX_LENGTH + 1) @ _length_weights(exponent, min_length))


def length_exponent(mean: float, min_length: int) -> float:
  """The exponent whose length law has this mean (bisection: the mean falls as it grows)."""
  low, high = 1.01, 50.0
  if not _mean_length(high, min_length) <= mean <= _mean_length(low, min_length):
    raise JaxlensError(f'{mean:.2f} interactions per user: a synthetic file has '
                       f'{_mean_length(high, min_length):.2f} to '
                       f'{_mean_length(low, min_length):.0f} for min_length={min_length}')
  for _ in range(60):
    middle = (low + high) / 2
    low, high = (middle, high) if _mean_length(middle, min_length) > mean else (low, middle)
  return (low + high) / 2


def draw_lengths(spec: InteractionSpec) -> np.ndarray:
  """One length per user; with `interactions` set, single steps move them to that exact total."""
  exponent = LENGTH_EXPONENT if spec.interactions is None else length_exponent(
      spec.interactions / spec.users, spec.min_length)
  rng = np.random.default_rng([spec.seed, 0])
  lengths = spec.min_length + rng.choice(MAX_LENGTH - spec.min_length + 1, size=spec.users,
                                         p=_length_weights(exponent, spec.min_length))
  if spec.interactions is not None:
    while (missing := spec.interactions - int(lengths.sum())) != 0:
      chosen = rng.choice(spec.users, size=min(abs(missing), spec.users), replace=False)
      if missing < 0:
        chosen = chosen[lengths[chosen] > spec.min_length]
      lengths[chosen] += np.sign(missing)
  return lengths.astype(np.int64)


def _item_sampler(spec: InteractionSpec, rng: np.random.Generator):
  """Item ids by popularity rank: rank r is a random id, so popularity does not follow ids."""
  ranks = (np.arange(spec.items) + 0.5) / spec.items
  weights = ranks ** -ITEM_RANK_EXPONENT * np.exp(-ranks / ITEM_RANK_CUTOFF)
  cumulative = np.cumsum(weights / weights.sum())
  ids = rng.permutation(spec.items) + 1
  return lambda draws: ids[np.minimum(np.searchsorted(cumulative, draws), spec.items - 1)]


def _chunk_events(spec: InteractionSpec, lengths: np.ndarray, first_user: int, sample_items):
  """(user ids, items, timestamps) of one chunk of users, each user's events in time order."""
  rng = np.random.default_rng([spec.seed, 1, first_user])
  users = np.repeat(np.arange(first_user, first_user + len(lengths)) + 1, lengths)
  items = sample_items(rng.random(len(users)))
  gaps = np.round(rng.exponential(MEAN_GAP_S, len(users))).astype(np.int64) * 1000
  gaps[rng.random(len(users)) < TIE_SHARE] = 0
  starts = np.cumsum(lengths) - lengths  # where each user's events begin
  gaps[starts] = 0
  elapsed = np.cumsum(gaps)
  elapsed -= np.repeat(elapsed[starts], lengths)
  stamps = np.repeat(START_MS + rng.integers(0, SPAN_MS, len(lengths)), lengths) + elapsed
  return users, items, stamps


def _lines(path: str, users, items, stamps, lengths) -> str:
  if path.endswith('.csv'):
    return ''.join(f'{u},{i},{t}\n' for u, i, t in zip(users.tolist(), items.tolist(),
                                                       stamps.tolist()))
  bounds = np.cumsum(lengths)[:-1]
  return ''.join(f'{u[0]}\t{" ".join(map(str, i))}\n' for u, i in zip(
      np.split(users, bounds), (part.tolist() for part in np.split(items, bounds))))


def write_interactions(path: str, spec: InteractionSpec) -> int:
  """Writes the file (format by extension); returns the number of interactions."""
  if os.path.splitext(path)[1] not in ('.csv', '.tsv'):
    raise JaxlensError(f'{path}: a pairs file must end in .tsv or .csv')
  if spec.users < 1 or spec.items < 1 or spec.min_length < 1:
    raise JaxlensError(f'{spec}: users, items and min_length must be positive')
  lengths = draw_lengths(spec)
  sample_items = _item_sampler(spec, np.random.default_rng([spec.seed, 2]))
  with open(path, 'w', encoding='utf-8') as f:
    if path.endswith('.csv'):
      f.write('user,item,timestamp\n')
    for first in range(0, spec.users, USERS_PER_CHUNK):
      chunk = lengths[first:first + USERS_PER_CHUNK]
      f.write(_lines(path, *_chunk_events(spec, chunk, first, sample_items), chunk))
  return int(lengths.sum())


def main(argv: list[str]) -> int:
  parser = cli.ArgumentParser('jaxlens synthetic', __doc__)
  parser.add_argument('--users', type=int, required=True)
  parser.add_argument('--items', type=int, required=True)
  parser.add_argument('--interactions', type=int, help='default: 7.19 per user, as the 50K')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--min_length', type=int, default=5,
                      help='shortest sequence (the releases: 5); lower it to test the protocol')
  parser.add_argument('--out', required=True, help='FILE.csv (with timestamps) or FILE.tsv')
  args = parser.parse_args(argv)
  spec = InteractionSpec(args.users, args.items, args.interactions, args.seed, args.min_length)

  def write() -> None:
    count = write_interactions(args.out, spec)
    print(f'{args.out}: {spec.users} users, {count} interactions')

  return cli.exit_status(write)


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


def sequential_interactions(users: int = 48, items: int = 30, seed: int = 0,
                            max_seq_len: int = 6) -> Interactions:
  """Sequences of 5-9 items with a next-item pattern (item i tends to follow i-1)."""
  rng = np.random.default_rng(seed)
  histories = []
  for u in range(users):
    start = rng.integers(1, items + 1)
    length = rng.integers(5, 10)
    seq = (start + np.arange(length) + rng.integers(0, 2, size=length)) % items + 1
    histories.append(UserHistory(f'u{u}', seq.astype(np.int64)))
  return apply_protocol(histories, max_seq_len=max_seq_len)


def full_length_interactions(users: int, items: int, max_seq_len: int) -> Interactions:
  """Every user with the protocol's longest sequence (max_seq_len + 3 items, cycling through
  the catalogue): the worst case for shapes, for ahead-of-time compilation. Built as the
  protocol would number and pad such histories, without building them: the full MicroLens's
  34 million users take seconds."""
  keep = max_seq_len + 3
  num_items = min(items, users * keep)
  sequences = (np.arange(users * keep, dtype=np.int64) % num_items + 1).astype(np.int32)
  return Interactions(sequences=sequences.reshape(users, keep),
                      original_item_ids=np.arange(num_items + 1, dtype=np.int64),
                      users=tuple(f'u{u}' for u in range(users)), max_seq_len=max_seq_len)


class RandomFrames:
  """Deterministic uint8 clips per original item id, with the interface of
  `tfds_source.ItemFrames` that `ClipStore` uses."""

  def __init__(self, num_frames: int = 4, size: int = 16):
    self.shape = (num_frames, size, size, 3)

  def frames(self, item_id: int) -> np.ndarray:
    return np.random.default_rng(item_id).integers(0, 256, self.shape, dtype=np.uint8)

  def load_all(self, item_ids) -> np.ndarray:
    return np.stack([self.frames(int(i)) for i in item_ids])


if __name__ == '__main__':
  run()
