"""The MicroLens protocol (the reference's `Code/VideoRec/SASRec/utils/load_data.py`) on
hand-written sequences."""

import numpy as np
import pytest

from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import apply_protocol
from jaxlens.errors import JaxlensError


def _histories(*seqs):
  return [UserHistory(f'u{i}', np.asarray(s, np.int64)) for i, s in enumerate(seqs)]


def test_filter_truncate_renumber_split():
  data = apply_protocol(_histories(
      [50, 10, 30, 20, 40],            # kept whole (5 items)
      [10, 20, 30, 40],                # dropped: fewer than min_seq_len=5
      [99, 98, 97, 60, 10, 30, 20],    # truncated to the last max_seq_len+3 = 5
  ), max_seq_len=2, min_seq_len=5)
  assert data.users == ('u0', 'u2')
  # Survivors, renumbered by increasing original id: 10 20 30 40 50 60 97 -> 1..7; 98, 99 vanish.
  np.testing.assert_array_equal(data.original_item_ids, [0, 10, 20, 30, 40, 50, 60, 97])
  np.testing.assert_array_equal(data.sequences, [[5, 1, 3, 2, 4], [7, 6, 1, 3, 2]])
  np.testing.assert_array_equal(data.train_slots, [[5, 1, 3], [7, 6, 1]])
  inputs, targets, history = data.eval_split('valid')
  np.testing.assert_array_equal(inputs, [[1, 3], [6, 1]])
  np.testing.assert_array_equal(targets, [2, 3])
  np.testing.assert_array_equal(history, [[5, 1, 3], [7, 6, 1]])
  inputs, targets, history = data.eval_split('test')
  np.testing.assert_array_equal(inputs, [[3, 2], [1, 3]])
  np.testing.assert_array_equal(targets, [4, 2])
  np.testing.assert_array_equal(history, [[5, 1, 3, 2], [7, 6, 1, 3]])


def test_left_padding_and_popularity():
  data = apply_protocol(_histories([1, 2, 3, 4, 5], [2, 2, 3, 6, 7, 8]), max_seq_len=10)
  # Short sequences are left-padded to max_seq_len + 3.
  np.testing.assert_array_equal(data.sequences[0], [0] * 8 + [1, 2, 3, 4, 5])
  counts = data.train_item_counts()
  # train lists: [1 2 3] and [2 2 3 6]: repeats counted, targets of valid/test not.
  np.testing.assert_array_equal(counts, [0, 1, 3, 2, 0, 0, 1, 0, 0])
  log_pop = data.log_popularity()
  np.testing.assert_allclose(np.exp(log_pop[[1, 2, 3, 6]]), np.array([1, 3, 2, 1]) / 7, rtol=1e-6)
  assert log_pop[0] == 0 and log_pop[4] == 0  # padding and never-trained items stay finite


def test_nobody_long_enough():
  with pytest.raises(JaxlensError, match='min_seq_len=5'):
    apply_protocol(_histories([1, 2, 3]), min_seq_len=5)


def test_warm_n_drops_rare_items_first_then_filters_users():
  """Item counts over the raw file: 1 x7, 2 x5, 3 x2, 9 x1. Warm-3 drops 3 and 9 (fewer than 3
  interactions) from every history first; then users shorter than min_seq_len go."""
  histories = _histories([1, 2, 1, 3, 1, 2],    # 3 goes -> [1, 2, 1, 1, 2]: kept
                         [1, 9, 2, 1, 3],       # 9 and 3 go -> [1, 2, 1]: dropped (< 5)
                         [2, 1, 1, 2, 1])       # kept whole
  data = apply_protocol(histories, max_seq_len=10, min_seq_len=5, min_item_interactions=3)
  assert data.users == ('u0', 'u2')
  np.testing.assert_array_equal(data.original_item_ids, [0, 1, 2])
  np.testing.assert_array_equal(data.sequences[:, -5:], [[1, 2, 1, 1, 2], [2, 1, 1, 2, 1]])
  assert data.num_interactions == 10
  everything = apply_protocol(histories, max_seq_len=10, min_seq_len=5, min_item_interactions=0)
  assert everything.num_users == 3 and everything.num_items == 4
  with pytest.raises(JaxlensError, match='min_item_interactions=-1'):
    apply_protocol(histories, min_item_interactions=-1)
