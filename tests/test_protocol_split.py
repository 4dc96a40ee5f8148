"""The `protocol` split of `microlens`, built in memory, read back as `apply_protocol` gives it.

The Beam path's equality with these builds is `tests/test_beam_build.py` (the build venv).
"""

import importlib.util
import itertools
import os
import pickle

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxlens.data import pairs
from jaxlens.data import protocol
from jaxlens.data import tfds_source
from jaxlens.errors import JaxlensError
from tests import interaction_files
from jaxlens.builders import interactions_builder
from jaxlens.builders import microlens

NAME = 'microlens/50k'


def build(manual_dir, data_dir, engine='memory') -> str:
  builder = microlens.MicroLens(config='50k', data_dir=str(data_dir),
                                              engine=engine)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return str(data_dir)


def assert_same_interactions(got: protocol.Interactions, want: protocol.Interactions):
  np.testing.assert_array_equal(got.sequences, want.sequences)
  np.testing.assert_array_equal(got.original_item_ids, want.original_item_ids)
  assert got.users == want.users and got.max_seq_len == want.max_seq_len


def check_against_apply_protocol(pairs_file, data_dir):
  """load_protocol, ProtocolRows and the summary equal apply_protocol on the raw file."""
  want = protocol.apply_protocol(pairs.read_pairs(pairs_file))
  assert_same_interactions(tfds_source.load_protocol(NAME, data_dir), want)
  rows = tfds_source.ProtocolRows(NAME, data_dir)
  indices = np.random.default_rng(0).permutation(want.num_users)[:7]
  np.testing.assert_array_equal(rows.rows(indices), want.sequences[indices])
  np.testing.assert_array_equal(pickle.loads(pickle.dumps(rows))[int(indices[0])],
                                want.sequences[indices[0]])
  summary = rows.summary
  assert (summary.num_users, summary.num_items, summary.num_interactions) == (
      want.num_users, want.num_items, want.num_interactions)
  assert (summary.max_seq_len, summary.min_seq_len) == (10, 5)
  np.testing.assert_array_equal(summary.train_item_counts, want.train_item_counts())
  np.testing.assert_array_equal(protocol.log_popularity(summary.train_item_counts),
                                want.log_popularity())


def test_edge_cases_read_back_as_apply_protocol_gives_them(tmp_path):
  path = interaction_files.write_edge_cases(tmp_path / 'manual')
  data_dir = build(tmp_path / 'manual', tmp_path / 'tfds')
  check_against_apply_protocol(path, data_dir)
  data = tfds_source.load_protocol(NAME, data_dir)
  assert data.users == ('a', 'b', 'long')  # file order; 'short' has 2 items
  # a: 11@100, then the tie at 300 in file order (10, 12), 10@400, 13@500; 14@-5 comes first.
  vocabulary = list(data.original_item_ids)
  assert [vocabulary[i] for i in data.sequences[0] if i] == [14, 11, 10, 12, 10, 13]
  assert 98 not in vocabulary and 99 not in vocabulary and 500 not in vocabulary
  assert 2**63 - 1 in vocabulary
  raw = tfds_source.load_interactions(NAME, data_dir)
  assert [h.user for h in raw] == ['a', 'b', 'short', 'long']
  np.testing.assert_array_equal(raw[0].timestamps, [-5, 100, 300, 300, 400, 500])


@pytest.mark.parametrize('suffix', ['.csv', '.tsv'])
def test_generated_file_reads_back_as_apply_protocol_gives_it(tmp_path, suffix):
  path = interaction_files.write_generated(tmp_path / 'manual', suffix)
  check_against_apply_protocol(path, build(tmp_path / 'manual', tmp_path / 'tfds'))


REAL_SLICE_USERS = 5_000


@pytest.mark.slow
def test_real_50k_reads_back_as_apply_protocol_gives_it(microlens_data_dir, tmp_path):
  """The release's first REAL_SLICE_USERS lines as they are (its titles beside them): real lines
  at a tenth of the whole file's build."""
  release = f'{microlens_data_dir}/microlens-50k'
  manual = tmp_path / 'manual'
  manual.mkdir()
  with open(f'{release}/MicroLens-50k_pairs.tsv', encoding='utf-8') as f:
    lines = list(itertools.islice(f, REAL_SLICE_USERS))
  (manual / 'MicroLens-50k_pairs.tsv').write_text(''.join(lines), encoding='utf-8')
  os.symlink(f'{release}/MicroLens-50k_titles.csv', manual / 'MicroLens-50k_titles.csv')
  check_against_apply_protocol(manual / 'MicroLens-50k_pairs.tsv',
                               build(manual, tmp_path / 'tfds'))


def test_another_protocol_is_refused(tmp_path):
  interaction_files.write_edge_cases(tmp_path / 'manual')
  data_dir = build(tmp_path / 'manual', tmp_path / 'tfds')
  with pytest.raises(JaxlensError, match='built with the protocol max_seq_len=10, min_seq_len=5, '
                     'not 50, 5'):
    tfds_source.load_protocol(NAME, data_dir, max_seq_len=50)


@pytest.mark.skipif(importlib.util.find_spec('apache_beam') is not None,
                    reason='Beam is installed: tests/test_beam_build.py builds with it')
def test_files_from_the_size_threshold_on_take_the_beam_path(tmp_path, monkeypatch):
  """Without Beam (the runtime venv), one line says where to run the build."""
  interaction_files.write_edge_cases(tmp_path / 'manual')
  monkeypatch.setattr(interactions_builder, 'BEAM_FROM_BYTES', 100)
  with pytest.raises(JaxlensError, match='Apache Beam needs it installed: run in the build venv'):
    build(tmp_path / 'manual', tmp_path / 'tfds', engine=None)
