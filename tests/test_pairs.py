"""The pairs-file parser: formats, ordering, and one-line errors naming file and line."""

import numpy as np
import pytest

from jaxlens.data import pairs
from jaxlens.errors import JaxlensError


def _write(tmp_path, name, text, newline='\n'):
  path = tmp_path / name
  path.write_bytes(text.replace('\n', newline).encode())
  return str(path)


@pytest.mark.parametrize('newline', ['\n', '\r\n'])
def test_tsv_keeps_order_and_ids(tmp_path, newline):
  path = _write(tmp_path, 'x_pairs.tsv', 'u1\t5 3 9\nu2\t7\n\n', newline)
  histories = pairs.read_pairs(path)
  assert [h.user for h in histories] == ['u1', 'u2']
  np.testing.assert_array_equal(histories[0].items, [5, 3, 9])
  assert histories[0].timestamps is None


def test_csv_groups_by_user_and_sorts_by_time(tmp_path):
  path = _write(tmp_path, 'x_pairs.csv',
                'user,item,timestamp\nb,4,300\na,1,200\nb,2,100\na,3,100\nb,9,300\n')
  histories = pairs.read_pairs(path)
  assert [h.user for h in histories] == ['b', 'a']
  np.testing.assert_array_equal(histories[0].items, [2, 4, 9])  # tie at 300 keeps file order
  np.testing.assert_array_equal(histories[0].timestamps, [100, 300, 300])
  np.testing.assert_array_equal(histories[1].items, [3, 1])


@pytest.mark.parametrize('name, text, message', [
    ('a_pairs.tsv', 'u1\t1 2 3\nu2 1 2 3\n', 'a_pairs.tsv:2: expected "user<TAB>item'),
    ('b_pairs.tsv', 'u1\t1 2 x3\n', "b_pairs.tsv:1: item 'x3' is not an integer id"),
    ('c_pairs.tsv', '\n\n', 'c_pairs.tsv: the file holds no interactions'),
    ('d_pairs.csv', 'user,item,timestamp\na,1\n', 'd_pairs.csv:2: expected "user,item,timestamp"'),
    ('e_pairs.csv', 'user,item,time\n', 'e_pairs.csv:1: expected the header'),
    ('f_pairs.csv', 'user,item,timestamp\na,1,soon\n', "f_pairs.csv:2: timestamp 'soon'"),
    ('g_pairs.txt', 'u\t1\n', 'g_pairs.txt: a pairs file must end in .tsv or .csv'),
])
def test_bad_files_name_file_and_line(tmp_path, name, text, message):
  with pytest.raises(JaxlensError, match=message.replace('(', r'\(')):
    pairs.read_pairs(_write(tmp_path, name, text))


def test_missing_file(tmp_path):
  with pytest.raises(JaxlensError, match='no such pairs file'):
    pairs.read_pairs(tmp_path / 'absent_pairs.tsv')


@pytest.mark.parametrize('name, content, message', [
    ('h_pairs.tsv', b'u1\t1 2 3\nu2\t4 5\nu1\t6\n',
     "h_pairs.tsv:3: user 'u1' again \\(first at line 1\\)"),
    ('i_pairs.tsv', b'u1\t1 -2 3\n', "i_pairs.tsv:1: item '-2' is not an id from 0"),
    ('j_pairs.tsv', b'u1\t1 99999999999999999999 3\n',
     "j_pairs.tsv:1: item '99999999999999999999' is not an id from 0"),
    ('k_pairs.tsv', 'u1\t1 2\nsé\t3\n'.encode('latin-1'), 'k_pairs.tsv:2: not UTF-8 text'),
    ('l_pairs.tsv', b'\x1f\x8b\x08\x00' + bytes(range(128, 256)), 'l_pairs.tsv:1: not UTF-8'),  # gzip
    ('m_pairs.csv', b'user,item,timestamp\na,1,99999999999999999999\n',
     "m_pairs.csv:2: timestamp '99999999999999999999' is not a 64-bit integer"),
])
def test_bad_ids_users_and_encodings_name_file_and_line(tmp_path, name, content, message):
  path = tmp_path / name
  path.write_bytes(content)
  with pytest.raises(JaxlensError, match=message):
    pairs.read_pairs(path)


def test_a_folder_is_not_a_pairs_file(tmp_path):
  (tmp_path / 'x_pairs.tsv').mkdir()
  with pytest.raises(JaxlensError, match='x_pairs.tsv: a folder, not a pairs file'):
    pairs.read_pairs(tmp_path / 'x_pairs.tsv')
