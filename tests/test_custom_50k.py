"""MicroLens-50K rewritten as a Parquet table with string ids trains SASRec-ID to exactly the
metrics of the native pairs file: the custom path keeps every interaction, the order and the
protocol (the real file, via MICROLENS_DATA_DIR). Both tests read the release's first 1,000
users (a real slice: every line as the release writes it, 7,256 interactions with 5,074 of its
items): the custom path meets the same kinds of lines as in the whole file, at a fraction of the
cost."""

import hashlib

import numpy as np
import pyarrow as pa
from pyarrow import parquet as pq
import pytest

from jaxlens.builders.__main__ import main as build_main
from jaxlens.data import pairs
from jaxlens.data import protocol
from jaxlens.data import tfds_source
from jaxlens.train import loop
from tests import helpers

pytestmark = pytest.mark.slow


def _renamed_parquet(histories, path, item_name) -> None:
  """One row per interaction in file order, users and items renamed, no time column."""
  users = [f'viewer-{hashlib.sha1(h.user.encode()).hexdigest()[:12]}' for h in histories]
  assert len(set(users)) == len(users)
  lengths = [len(h.items) for h in histories]
  items = np.concatenate([h.items for h in histories])
  pq.write_table(pa.table({'viewer': np.repeat(users, lengths),
                           'video': [item_name(int(i)) for i in items]}), path)


SLICE_USERS = 1_000


@pytest.fixture(scope='module')
def tsv(microlens_data_dir) -> str:
  return f'{microlens_data_dir}/microlens-50k/MicroLens-50k_pairs.tsv'


@pytest.fixture(scope='module')
def sliced(tsv, tmp_path_factory) -> str:
  """The release's first `SLICE_USERS` lines, as they are."""
  path = tmp_path_factory.mktemp('slice') / 'MicroLens-50k_pairs.tsv'
  with open(tsv, encoding='utf-8') as f:
    lines = [next(f) for _ in range(SLICE_USERS)]
  path.write_text(''.join(lines), encoding='utf-8')
  return str(path)


@pytest.fixture(scope='module')
def built(sliced, tmp_path_factory) -> str:
  """custom/ml50k: items renamed `video-0000123`, whose code point order is the ids' order."""
  folder = tmp_path_factory.mktemp('ml50k')
  _renamed_parquet(pairs.read_pairs(sliced), folder / 'pairs.parquet', lambda i: f'video-{i:07d}')
  assert build_main(['custom', '--name=ml50k', f'--interactions={folder}/pairs.parquet',
                     '--user_col=viewer', '--item_col=video', f'--data_dir={folder}']) == 0
  return str(folder)


def _config():
  config = helpers.load_config('sasrec_id', 'cpu')
  config.model.hidden = 16
  config.train.update(batch_size=1024, epochs=1)
  config.eval.batch_size = 4096
  return config


def test_sasrec_id_gives_the_native_metrics(sliced, built, tmp_path):
  native = _config()
  native.data.pairs_path = sliced
  custom = _config()
  custom.data.name, custom.data.dir = 'custom/ml50k', built
  want = loop.train_and_evaluate(native, str(tmp_path / 'native'))
  got = loop.train_and_evaluate(custom, str(tmp_path / 'custom'))
  assert got['data'] == want['data'] and want['data']['users'] == SLICE_USERS
  assert got['valid'] == want['valid'] and got['test'] == want['test']
  assert got['test_cold'] == want['test_cold'] and got['breakdowns'] == want['breakdowns']
  assert [h['valid'] for h in got['history']] == [h['valid'] for h in want['history']]


def test_any_renaming_gives_the_protocol_rows_relabelled(sliced, tmp_path):
  """Items renamed without keeping their order: the same rows, items numbered otherwise."""
  histories = pairs.read_pairs(sliced)
  scrambled = lambda i: 'v' + hashlib.sha1(str(i).encode()).hexdigest()[:16]
  _renamed_parquet(histories, tmp_path / 'pairs.parquet', scrambled)
  assert build_main(['custom', '--name=scrambled', f'--interactions={tmp_path}/pairs.parquet',
                     '--user_col=viewer', '--item_col=video', f'--data_dir={tmp_path}']) == 0
  got = tfds_source.load_protocol('custom/scrambled', str(tmp_path))
  want = protocol.apply_protocol(histories)
  names = np.asarray(tfds_source.source_item_ids('custom/scrambled', str(tmp_path),
                                                 got.original_item_ids[1:]), object)
  want_names = np.asarray([scrambled(int(i)) for i in want.original_item_ids[1:]], object)
  relabel = lambda rows, labels: np.where(rows > 0, np.concatenate([[''], labels])[rows], '')
  np.testing.assert_array_equal(relabel(got.sequences, names),
                                relabel(want.sequences, want_names))
  assert got.num_items == want.num_items and not np.array_equal(got.sequences, want.sequences)
