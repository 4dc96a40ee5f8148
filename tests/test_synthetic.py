"""The synthetic interactions generator: MicroLens formats, exact sizes, seed-determined, and the
skew of the real MicroLens-50K."""

import numpy as np
import pytest

from jaxlens.data import pairs
from jaxlens.data import synthetic
from jaxlens.errors import JaxlensError


def _write(tmp_path, name, **spec):
  path = str(tmp_path / name)
  synthetic.write_interactions(path, synthetic.InteractionSpec(**spec))
  return path


@pytest.mark.parametrize('suffix', ['.csv', '.tsv'])
def test_exact_sizes_in_a_format_the_parser_reads(tmp_path, suffix):
  path = _write(tmp_path, f'x_pairs{suffix}', users=300, items=50, interactions=4321)
  histories = pairs.read_pairs(path)
  assert [h.user for h in histories] == [str(u) for u in range(1, 301)]
  assert sum(len(h.items) for h in histories) == 4321
  assert min(len(h.items) for h in histories) >= 5
  assert {int(i) for h in histories for i in h.items} <= set(range(1, 51))
  if suffix == '.csv':  # rows are grouped by user in time order, as the official 100K csv
    assert all((np.diff(h.timestamps) >= 0).all() for h in histories)
    assert any((np.diff(h.timestamps) == 0).any() for h in histories)  # ties occur


def test_the_seed_decides_every_byte(tmp_path):
  spec = dict(users=100_000, items=500, interactions=700_000)  # two chunks of users
  first = _write(tmp_path, 'a_pairs.tsv', **spec)
  again = _write(tmp_path, 'b_pairs.tsv', **spec)
  other = _write(tmp_path, 'c_pairs.tsv', seed=1, **spec)
  with open(first, 'rb') as a, open(again, 'rb') as b, open(other, 'rb') as c:
    first_bytes = a.read()
    assert first_bytes == b.read() and first_bytes != c.read()


def test_lengths_and_popularity_follow_the_50k_fit(tmp_path):
  histories = pairs.read_pairs(_write(tmp_path, 'x_pairs.tsv', users=20_000, items=8_000))
  lengths = np.array([len(h.items) for h in histories])
  assert lengths.mean() == pytest.approx(7.19, abs=0.15)  # the 50K: 7.19
  assert (lengths == 5).mean() == pytest.approx(0.407, abs=0.02)  # the 50K: 40.7%
  counts = np.sort(np.unique(np.concatenate([h.items for h in histories]),
                             return_counts=True)[1])[::-1]
  top_tenth = counts[:len(counts) // 10].sum() / counts.sum()
  assert top_tenth == pytest.approx(0.37, abs=0.03)  # the 50K: 36.8%


def test_short_users_on_request_and_bad_sizes_refused(tmp_path):
  histories = pairs.read_pairs(_write(tmp_path, 'x_pairs.csv', users=200, items=30,
                                      interactions=600, min_length=1))
  assert min(len(h.items) for h in histories) == 1
  with pytest.raises(JaxlensError, match='2.00 interactions per user'):
    _write(tmp_path, 'y_pairs.csv', users=100, items=30, interactions=200)
  with pytest.raises(JaxlensError, match='must end in .tsv or .csv'):
    _write(tmp_path, 'z_pairs.txt', users=100, items=30)


def test_command_line_writes_the_file(tmp_path, capsys):
  out = tmp_path / 'x_pairs.csv'
  assert synthetic.main(['--users', '50', '--items', '20', '--interactions', '400',
                         '--out', str(out)]) == 0
  assert f'{out}: 50 users, 400 interactions' in capsys.readouterr().out
  assert synthetic.main(['--users', '50', '--items', '20', '--out', str(tmp_path / 'x')]) == 2
  assert 'error: ' in capsys.readouterr().err
