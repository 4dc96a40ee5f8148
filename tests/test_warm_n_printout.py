"""A run prints its data after the protocol, naming the warm-N filter when there is one, so a
Table 8 log says how many users, items and interactions each warm setting left."""

from jaxlens.train import configuration, loop
from tests import helpers

# Raw counts: 1-4 x3, 5 x2, 7, 8 and 9 x1; warm-2 drops 7, 8 and 9, then u1 (4 items left).
LINES = ('u0\t1 2 3 4 5 8\n', 'u1\t1 2 3 4 9\n', 'u2\t5 4 3 2 1 7\n')


def _run_setup(tmp_path, warm: int) -> None:
  path = tmp_path / 'warm_pairs.tsv'
  path.write_text(''.join(LINES))
  config = helpers.tiny_config()
  config.data.update(pairs_path=str(path), max_seq_len=10, min_seq_len=5,
                     min_item_interactions=warm)
  run = loop.setup(configuration.resolve(config), str(tmp_path / f'warm{warm}'))
  run.summary.close()


def test_warm_n_run_prints_what_the_protocol_left(tmp_path, capsys):
  _run_setup(tmp_path, warm=2)
  out = capsys.readouterr().out
  assert ('data: 2 users, 5 items, 10 interactions after the protocol '
          '(warm-2: items with fewer interactions removed first)') in out
  _run_setup(tmp_path, warm=0)
  out = capsys.readouterr().out
  assert 'data: 3 users, 8 items, 17 interactions after the protocol\n' in out
