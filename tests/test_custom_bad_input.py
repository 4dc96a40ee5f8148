"""Bad input to `jaxlens build custom`: one `error:` line naming the file (and line), exit status
2, and no dataset left behind; what the build can go on without is a counted warning."""

import gzip
import json
import os
import re

import pytest

from jaxlens.builders import custom
from jaxlens.data import tfds_source
from jaxlens.errors import JaxlensError
from tests import custom_tables

GOOD = 'user,item,timestamp\nu1,1,10\nu1,2,20\nu1,3,30\nu2,1,10\nu2,3,20\nu2,2,30\n'


def _write(path, text: str) -> str:
  opener = gzip.open if str(path).endswith('.gz') else open
  with opener(path, 'wt', encoding='utf-8', newline='') as f:
    f.write(text)
  return str(path)


def _fails(capsys, tmp_path, *flags: str) -> str:
  """The one error line of a build that must fail; checks that nothing was left behind."""
  status, out, err = custom_tables.build(capsys, '--name=bad', f'--data_dir={tmp_path / "tfds"}',
                                         '--min_seq_len=3', *flags)
  assert status == 2, (out, err)
  assert err.startswith('error: ') and err.count('\n') == 1, err
  assert 'Traceback' not in err + out
  assert custom_tables.leftovers(tmp_path / 'tfds') == []
  return err.strip()


@pytest.mark.parametrize('text, flags, message', [
    (GOOD, ['--user_col=visitor'],
     r"t\.csv: no column 'visitor' \(its columns: user, item, timestamp\); name the column with "
     r'--user_col'),
    ('who,what\na,1\n', [], r"t\.csv: no column 'user_id' or 'user' \(its columns: who, what\)"),
    ('', [], r't\.csv: the file is empty'),
    ('user,item,timestamp\n', [], r't\.csv: the table holds no interactions'),
    (GOOD + 'u3,4\n', [], r"t\.csv:8: expected 3 fields \(user, item, timestamp\), got 2: 'u3,4'"),
    (GOOD + '\n\nu3,x9,5\n', [],
     r't\.csv:10: a string item id, while 6 of the 7 ids are integers \(the first at .*t\.csv:2\);'
     r' pass --string_ids'),
    (GOOD + 'u3,4,yesterday\n', [],
     r"t\.csv:8: timestamp 'yesterday' is not a number, as the others are"),
    (GOOD + 'u3,,40\n', [], r't\.csv:8: no item id'),
    (GOOD + 'u3,99999999999999999999,40\n', [],
     r"t\.csv:8: item '99999999999999999999' does not fit 64 bits"),
    (GOOD, ['--time_unit=iso'], r"--time_unit iso: column 'timestamp' of .*t\.csv holds numbers"),
    (GOOD, ['--item_col=user'], r'the user, item and time columns must differ'),
])
def test_bad_tables(tmp_path, capsys, text, flags, message):
  path = _write(tmp_path / 't.csv', text)
  error = _fails(capsys, tmp_path, f'--interactions={path}', *flags)
  assert re.search(message, error), error


def test_bad_gzip_and_parquet_rows_name_their_place(tmp_path, capsys):
  path = _write(tmp_path / 't.tsv.gz', GOOD.replace(',', '\t') + 'u3\t5\t\n')
  assert _fails(capsys, tmp_path, f'--interactions={path}').endswith(
      't.tsv.gz:8: no timestamp value')
  path = custom_tables.write(tmp_path, [('u1', 1, 10), ('u1', None, 20)], 'parquet')
  assert _fails(capsys, tmp_path, f'--interactions={path}').endswith(
      'interactions.parquet, row 2: no item id')
  path = custom_tables.write(tmp_path, [('u1', 1.5, 10)], 'parquet')
  assert "column 'item' holds double values; ids must be integers or strings" in _fails(
      capsys, tmp_path, f'--interactions={path}')


def test_missing_files_folders_and_formats(tmp_path, capsys):
  good = _write(tmp_path / 't.csv', GOOD)
  for flags, message in [
      ([f'--interactions={tmp_path}/none.csv'], 'none.csv: no such file'),
      ([f'--interactions={_write(tmp_path / "t.json", GOOD)}'],
       't.json: cannot tell the format from the name; pass --format (csv, tsv, parquet, atomic)'),
      ([f'--interactions={good}', f'--videos={tmp_path}/none'], f'--videos {tmp_path}/none: no '
       'such folder'),
      ([f'--interactions={good}', '--title_col=name'], 'name columns of an items table: give it '
       'with --items'),
      ([f'--interactions={good}', f'--items={good}'], 'name at least one of its columns to use '
       '(--title_col, --category_cols, --video_col, --cover_col)'),
      ([f'--interactions={good}', f'--items={good}', '--title_col=name'],
       "t.csv: no column 'name' (its columns: user, item, timestamp); name the column with "
       '--title_col'),
      ([f'--interactions={good}', '--name=../up'], "--name '../up': use letters, digits, _ and - "
       '(at most 64, starting with a letter or digit)'),
  ]:
    assert _fails(capsys, tmp_path, *flags).endswith(message), flags


def test_content_naming_no_item_of_the_interactions_stops_the_build(tmp_path, capsys):
  good = _write(tmp_path / 't.csv', GOOD)
  items = _write(tmp_path / 'items.csv', 'item,title\nA1,one\nA2,two\n')
  assert _fails(capsys, tmp_path, f'--interactions={good}', f'--items={items}',
                '--title_col=title').endswith(
                    "none of its 2 item ids is an item of the interactions (e.g. 'A1', 'A2'); "
                    'do the ids match?')
  videos = tmp_path / 'videos'
  videos.mkdir()
  for name in ('1.mp4', '1.avi'):
    (videos / name).write_bytes(b'')
  assert _fails(capsys, tmp_path, f'--interactions={good}', f'--videos={videos}').endswith(
      f'--videos {videos}: two files for item \'1\': 1.avi and 1.mp4')


def test_unknown_items_and_unsupported_files_are_counted_warnings(tmp_path, capsys):
  good = _write(tmp_path / 't.csv', GOOD)
  items = _write(tmp_path / 'items.csv', 'item,title\n1,one\n2,two\n9,nine\n')
  covers = tmp_path / 'covers'
  covers.mkdir()
  (covers / '3.gif').write_bytes(b'GIF89a')
  status, out, err = custom_tables.build(
      capsys, '--name=w', f'--data_dir={tmp_path / "tfds"}', '--min_seq_len=3',
      f'--interactions={good}', f'--items={items}', '--title_col=title', f'--covers={covers}',
      '--frame_size=8')
  assert status == 0, err
  assert f'warning: 1 covers unsupported: {covers}/3.gif' in out
  assert f'warning: --items {items}: 1 entries name items the interactions do not have (e.g. 9)' \
      in out
  folder = tfds_source.built_dir('custom/w', str(tmp_path / 'tfds'))
  with open(os.path.join(folder, 'build_report.json'), encoding='utf-8') as f:
    report = json.load(f)
  assert {(d['what'], d['count']) for d in report['dropped']} >= {
      ('content entries', 1), ('covers (unsupported)', 1)}
  assert report['items']['titles'] == 2 and report['items']['videos']['without_video'] == 3


def test_a_taken_name_needs_overwrite_and_a_failed_build_leaves_the_old_one(tmp_path, capsys,
                                                                            monkeypatch):
  first = _write(tmp_path / 'a.csv', GOOD)
  second = _write(tmp_path / 'b.csv', GOOD.replace('u2', 'u9'))
  flags = ['--name=taken', f'--data_dir={tmp_path}', '--min_seq_len=3']
  assert custom_tables.build(capsys, *flags, f'--interactions={first}')[0] == 0
  status, _, err = custom_tables.build(capsys, *flags, f'--interactions={second}')
  assert status == 2 and err == (
      f'error: custom/taken is already built in {tmp_path}, from {first}; choose another '
      '--name, or pass --overwrite to replace it\n')
  items = _write(tmp_path / 'items.csv', 'item,title\n1,one\n')

  def broken(*args, **kwargs):
    raise JaxlensError('the items broke')

  monkeypatch.setattr(custom.CustomFrames, '_item_sources', broken)
  status, _, err = custom_tables.build(capsys, *flags, f'--interactions={second}', '--overwrite',
                                       f'--items={items}', '--title_col=title')
  assert status == 2 and err.endswith('\rerror: the items broke\n')  # after TFDS's progress
  assert custom_tables.leftovers(tmp_path) == ['custom/taken']  # no staging folder
  users = [h.user for h in tfds_source.load_interactions('custom/taken', str(tmp_path))]
  assert users == ['u1', 'u2']  # the old dataset, whole
  monkeypatch.undo()
  status, out, err = custom_tables.build(capsys, *flags, f'--interactions={second}',
                                         '--overwrite')
  assert status == 0, err
  assert [h.user for h in tfds_source.load_interactions('custom/taken', str(tmp_path))] == [
      'u1', 'u9']
