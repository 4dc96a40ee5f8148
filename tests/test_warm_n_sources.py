"""Warm-N (`data.min_item_interactions`) reaches the protocol from a pairs file and from a built
dataset alike: the loader a run uses drops the same items and users for both."""

import numpy as np

from jaxlens.data import interactions, pairs, tfds_source
from tests import helpers

# Raw counts: 1-4 x3, 5 x2, 7, 8 and 9 x1. Warm-2 drops 7, 8 and 9 first; then u1 has 4 items
# left, fewer than min_seq_len 5, and goes.
LINES = ('u0\t1 2 3 4 5 8\n', 'u1\t1 2 3 4 9\n', 'u2\t5 4 3 2 1 7\n')


def _data_config(pairs_path='', warm=2):
  config = helpers.tiny_config().data
  config.update(pairs_path=pairs_path, name='microlens/toy', max_seq_len=10, min_seq_len=5,
                min_item_interactions=warm)
  return config


def _pairs_file(tmp_path) -> str:
  path = tmp_path / 'warm_pairs.tsv'
  path.write_text(''.join(LINES))
  return str(path)


def test_warm_n_from_a_pairs_file_and_a_built_dataset(tmp_path, monkeypatch):
  path = _pairs_file(tmp_path)
  from_pairs = interactions.load(_data_config(path))
  monkeypatch.setattr(tfds_source, 'load_interactions',
                      lambda name, data_dir=None: pairs.read_pairs(path))
  from_built = interactions.load(_data_config())
  for data in (from_pairs, from_built):
    assert data.users == ('u0', 'u2')
    np.testing.assert_array_equal(data.original_item_ids, [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(data.sequences[:, -5:], [[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])
    assert (data.num_users, data.num_items, data.num_interactions) == (2, 5, 10)
  everything = interactions.load(_data_config(warm=0))
  assert (everything.num_users, everything.num_items, everything.num_interactions) == (3, 8, 17)
