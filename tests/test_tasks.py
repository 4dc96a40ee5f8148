"""Training sample layouts (`jaxlens.data.tasks`) on hand-written sequences, against the
reference's datasets (`Code/IDRec/*/REC/data/dataset/trainset.py`): PAIR, one (user, item) row
per training interaction; SEQ, the user's other training items (in order, left-padded, the last
L) -> that item."""

import numpy as np

from jaxlens.data import tasks
from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import apply_protocol

# max_seq_len 3: at most 4 training items (s[:-2] of the last 6), each row's others are the 3.
SEQUENCES = [[5, 6, 7, 8, 9, 10],  # train 5 6 7 8
             [7, 5, 7, 1, 2],      # train 7 5 7: a repeat is a second interaction
             [1, 2, 3, 4, 5, 6, 7]]  # truncated to the last 6: train 2 3 4 5


def _data():
  return apply_protocol([UserHistory(f'u{i}', np.asarray(s)) for i, s in enumerate(SEQUENCES)],
                        max_seq_len=3, min_seq_len=5)


def _original(data, rows):
  return data.original_item_ids[rows]


def test_pair_rows_are_every_training_interaction_alone():
  data = _data()
  rows = tasks.get('pair').rows(data)
  np.testing.assert_array_equal(rows.user_ids, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
  np.testing.assert_array_equal(_original(data, rows.item_ids)[:, 0],
                                [5, 6, 7, 8, 7, 5, 7, 2, 3, 4, 5])
  task = tasks.get('pair')
  assert rows.item_ids.shape[1] == 1 and task.target_offset(1) == 0
  np.testing.assert_array_equal(task.query_mask(np.array([[4], [0]])), [[True], [False]])


def test_history_rows_are_the_other_items_in_order_then_the_item():
  data = _data()
  task = tasks.get('history')
  rows = task.rows(data)
  want = {  # user: [others..., item] per interaction, in time order; 0 is padding
      0: [[6, 7, 8, 5], [5, 7, 8, 6], [5, 6, 8, 7], [5, 6, 7, 8]],
      1: [[0, 5, 7, 7], [0, 7, 7, 5], [0, 7, 5, 7]],
      2: [[3, 4, 5, 2], [2, 4, 5, 3], [2, 3, 5, 4], [2, 3, 4, 5]],
  }
  np.testing.assert_array_equal(rows.user_ids, [0] * 4 + [1] * 3 + [2] * 4)
  np.testing.assert_array_equal(_original(data, rows.item_ids),
                                [row for user in range(3) for row in want[user]])
  assert task.target_offset(4) == 3  # one query per row, its target the last slot
  np.testing.assert_array_equal(task.query_mask(rows.item_ids[:2]), [[True], [True]])


def test_every_layout_counts_the_same_interactions_and_popularity():
  data = _data()
  pair, history = tasks.get('pair').rows(data), tasks.get('history').rows(data)
  targets = [pair.item_ids[:, -1], history.item_ids[:, -1]]
  np.testing.assert_array_equal(targets[0], targets[1])
  counts = np.bincount(targets[0], minlength=data.num_items + 1)
  counts[0] = 0
  np.testing.assert_array_equal(counts, data.train_item_counts())
