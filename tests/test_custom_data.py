"""`jaxlens build custom`: any table gives the dataset MicroLens's builder gives, whatever its
format, id kinds and time unit; the source ids come back from the dataset."""

import json
import os

import numpy as np
import pyarrow as pa
from pyarrow import parquet as pq
import pytest
import tensorflow_datasets as tfds

from jaxlens.builders import microlens
from jaxlens.builders import subset
from jaxlens.data import tfds_source
from jaxlens.errors import JaxlensError
from tests import custom_tables
from tests import interaction_files


def _records(data_dir, dataset: str, split: str) -> list[dict]:
  source = tfds.builder_from_directory(tfds_source.built_dir(dataset, str(data_dir))
                                       ).as_data_source(split)
  return source.__getitems__(range(len(source)))


def _metadata(data_dir, dataset: str) -> dict:
  return dict(tfds.builder_from_directory(tfds_source.built_dir(dataset, str(data_dir))
                                          ).info.metadata)


@pytest.fixture(scope='module')
def native_edge_cases(tmp_path_factory):
  """The MicroLens builder's dataset of the edge cases (`pairs.csv`, epoch ms)."""
  folder = tmp_path_factory.mktemp('native')
  interaction_files.write_edge_cases(folder / 'manual')
  builder = microlens.MicroLens(config='50k', data_dir=str(folder / 'tfds'), engine='memory')
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(folder / 'manual')))
  return folder / 'tfds'


def test_csv_tsv_parquet_and_atomic_files_build_the_same_dataset(tmp_path, capsys):
  rows = custom_tables.edge_case_rows()
  built = {}
  for fmt in ('csv', 'csv.gz', 'tsv', 'parquet', 'atomic'):
    path = custom_tables.write(tmp_path / fmt, rows, fmt)
    data_dir = tmp_path / f'tfds-{fmt}'
    status, out, err = custom_tables.build(capsys, '--name=edge', f'--interactions={path}',
                                           f'--data_dir={data_dir}', '--time_unit=ms')
    assert status == 0, err
    assert '34 interactions of 4 users and 32 items; the protocol keeps 3 users' in out
    built[fmt] = custom_tables.dataset_files(data_dir, 'edge')
  assert {'custom-protocol.array_record-00000-of-00001', 'metadata.json'} <= built['csv'].keys()
  for fmt, files in built.items():
    assert files == built['csv'], fmt


def test_the_protocol_split_is_the_microlens_builders_with_ids_mapped_back(
    tmp_path, capsys, native_edge_cases):
  """Duplicates, ties in time (file order), users out of order: handled as MicroLens's are."""
  path = custom_tables.write(tmp_path, custom_tables.edge_case_rows(), 'parquet')
  status, _, err = custom_tables.build(capsys, '--name=edge', f'--interactions={path}',
                                       f'--data_dir={tmp_path}', '--time_unit=ms')
  assert status == 0, err
  native, custom = _metadata(native_edge_cases, 'microlens/50k'), _metadata(tmp_path,
                                                                             'custom/edge')
  assert custom['item_id_kind'] == 'integer' and custom['timestamps'] == 'epoch_ms'
  source_ids = custom['source_item_ids']
  assert source_ids[0] is None and source_ids[1:] == sorted(source_ids[1:])
  want, got = dict(native['protocol']), dict(custom['protocol'])
  native_ids, dense_ids = want.pop('original_item_ids'), got.pop('original_item_ids')
  assert got == want  # counts, train popularity, protocol parameters
  assert tfds_source.source_item_ids('custom/edge', str(tmp_path), dense_ids[1:]) == native_ids[1:]
  for split in (tfds_source.PROTOCOL_SPLIT, tfds_source.RAW_SPLIT):
    want = _records(native_edge_cases, 'microlens/50k', split)
    got = _records(tmp_path, 'custom/edge', split)
    assert [r['user_id'] for r in got] == [r['user_id'] for r in want]
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g['timestamps'], w['timestamps'])
      if split == tfds_source.PROTOCOL_SPLIT:
        np.testing.assert_array_equal(g['item_ids'], w['item_ids'])
      else:
        np.testing.assert_array_equal(np.asarray(source_ids, object)[g['item_ids']], w['item_ids'])


def test_string_ids_are_dense_in_code_point_order_and_users_keep_theirs(tmp_path, capsys):
  users = ['Smith, J.', 'say "hi"', 'ünï', 'Smith, J.', 'say "hi"', 'ünï', 'Smith, J.', 'x7']
  items = ['sku-b', 'sku-a', 'Zeta', 'sku-b', 'ä-1', 'sku-a', 'sku-c', 'sku-a']
  rows = list(zip(users, items))
  path = custom_tables.write(tmp_path, rows, 'csv', columns=('user', 'item'))
  status, _, err = custom_tables.build(capsys, '--name=s', f'--interactions={path}',
                                       f'--data_dir={tmp_path}', '--min_seq_len=3')
  assert status == 0, err
  metadata = _metadata(tmp_path, 'custom/s')
  assert metadata['source_item_ids'] == [None, 'Zeta', 'sku-a', 'sku-b', 'sku-c', 'ä-1']
  assert metadata['timestamps'] == 'row_numbers' and metadata['item_id_kind'] == 'string'
  histories = tfds_source.load_interactions('custom/s', str(tmp_path))
  assert [h.user for h in histories] == ['Smith, J.', 'say "hi"', 'ünï', 'x7']
  names = np.asarray(metadata['source_item_ids'], object)
  assert [list(names[h.items]) for h in histories] == [
      ['sku-b', 'sku-b', 'sku-c'], ['sku-a', 'ä-1'], ['Zeta', 'sku-a'], ['sku-a']]
  raw = _records(tmp_path, 'custom/s', tfds_source.RAW_SPLIT)
  assert [list(r['timestamps']) for r in raw] == [[0, 3, 6], [1, 4], [2, 5], [7]]  # row numbers


def test_seconds_milliseconds_and_iso_dates_give_the_same_records(tmp_path, capsys):
  seconds = [1_700_000_000 + 60 * n for n in (3, 1, 2, 0, 5, 4)]
  events = [('u1', 1), ('u1', 2), ('u1', 3), ('u2', 1), ('u2', 3), ('u2', 2)]
  iso = [np.datetime_as_string(np.datetime64(s, 's')) + 'Z' for s in seconds]
  tables = {
      's': [(u, i, s) for (u, i), s in zip(events, seconds)],
      'ms': [(u, i, s * 1000) for (u, i), s in zip(events, seconds)],
      'float-seconds': [(u, i, s + 0.0) for (u, i), s in zip(events, seconds)],
      'iso': [(u, i, t) for (u, i), t in zip(events, iso)],
  }
  built = {}
  for name, rows in tables.items():
    path = custom_tables.write(tmp_path / name, rows, 'csv' if name != 'float-seconds' else 'atomic')
    status, _, err = custom_tables.build(capsys, '--name=t', f'--interactions={path}',
                                         f'--data_dir={tmp_path / name}', '--min_seq_len=3')
    assert status == 0, err
    built[name] = {k: v for k, v in custom_tables.dataset_files(tmp_path / name, 't').items()
                   if 'array_record' in k}
    assert _metadata(tmp_path / name, 'custom/t')['time_unit'] == (
        'iso' if name == 'iso' else 'ms' if name == 'ms' else 's')
  timestamps = pa.array(np.asarray(seconds, 'datetime64[s]'))
  pq.write_table(pa.table({'user': [u for u, _ in events], 'item': [i for _, i in events],
                           'timestamp': timestamps}), tmp_path / 'typed.parquet')
  status, _, err = custom_tables.build(capsys, '--name=t', f'--interactions={tmp_path}/typed.parquet',
                                       f'--data_dir={tmp_path / "typed"}', '--min_seq_len=3')
  assert status == 0, err
  built['parquet timestamps'] = {k: v for k, v in custom_tables.dataset_files(
      tmp_path / 'typed', 't').items() if 'array_record' in k}
  for name, files in built.items():
    assert files == built['ms'], name
  raw = _records(tmp_path / 'ms', 'custom/t', tfds_source.RAW_SPLIT)
  assert [list(r['item_ids']) for r in raw] == [[2, 3, 1], [1, 2, 3]]  # sorted by time


def test_build_report_lists_what_was_dropped_and_a_rerun_has_nothing_to_do(tmp_path, capsys):
  path = custom_tables.write(tmp_path, custom_tables.edge_case_rows(), 'csv')
  flags = ['--name=edge', f'--interactions={path}', f'--data_dir={tmp_path}']
  status, out, _ = custom_tables.build(capsys, *flags)
  assert status == 0
  report_path = os.path.join(tfds_source.built_dir('custom/edge', str(tmp_path)),
                             'build_report.json')
  assert f'build report: {report_path}' in out
  with open(report_path, encoding='utf-8') as f:
    report = json.load(f)
  assert report['interactions'] == {
      'rows': 34, 'users': 4, 'items': 32, 'columns': {'user': 'user', 'item': 'item',
                                                     'time': 'timestamp'},
      'user_id_kind': 'string', 'item_id_kind': 'integer', 'time': 's'}
  dropped = {entry['what']: entry['count'] for entry in report['dropped']}
  assert report['protocol']['num_interactions'] == 6 + 6 + 13  # a, b, long's last 13
  assert dropped == {'users': 1, 'interactions': 34 - 25}  # short; short's 2 and long's first 7
  assert custom_tables.build(capsys, *flags)[1].endswith('nothing to do\n')
  assert custom_tables.leftovers(tmp_path) == ['custom/edge']


def test_the_worked_example_of_the_docs_builds_as_shown(tmp_path, capsys):
  shop = os.path.join(os.path.dirname(__file__), 'data', 'shop')
  status, out, err = custom_tables.build(
      capsys, '--name=shop', f'--interactions={shop}/clicks.csv', '--user_col=visitor',
      '--item_col=sku', '--time_col=time', f'--items={shop}/products.csv', '--title_col=name',
      '--category_cols=department', f'--data_dir={tmp_path}')
  assert status == 0, err
  docs = os.path.join(os.path.dirname(__file__), '..', 'docs', 'custom-data.md')
  with open(docs, encoding='utf-8') as f:
    shown = f.read()
  for line in out.splitlines()[-3:-1]:  # the counts, as the page prints them
    assert f'\n{line}\n' in shown, line


def test_an_unbuilt_custom_dataset_says_how_to_build_it(tmp_path, capsys):
  with pytest.raises(JaxlensError, match=r'custom/none not built in .*: build with jaxlens build '
                     r'custom --name none --interactions FILE --data_dir='):
    subset.ensure_built('custom/none', str(tmp_path))
  path = custom_tables.write(tmp_path, custom_tables.edge_case_rows(), 'csv')
  assert custom_tables.build(capsys, '--name=ids', f'--interactions={path}',
                             f'--data_dir={tmp_path}')[0] == 0
  subset.ensure_built('custom/ids', str(tmp_path))  # the items are needed by content towers only
  with pytest.raises(JaxlensError, match=r'custom_frames/ids is not built in .*: build it with '
                     r'jaxlens build custom --name ids .*with --videos, --covers or --items'):
    tfds_source.ItemFrames('custom/ids', str(tmp_path))
