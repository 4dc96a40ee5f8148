"""jaxlens recommend on trained tiny runs: its ranks are the evaluator's, its outputs agree with
each other, and bad input is one line.

The consistency check runs `recommend --as_of test --keep_seen` over the whole catalogue and
drops the seen items other than the target, as the evaluation does (a repeated target stays a
candidate): each test target must sit at exactly the rank the evaluator counted for that user.
One model of each tower kind: sequence + video (the shared toy run), CF + id, graph + features
(LightGCN: every graph tower serves through the same propagated tables, and it compiles fastest),
a pair-scoring CF tower + id+features, on meshes that split users and items. Each run is
restored once for the whole file (`serving_runs.restoring_once`).
"""

import json
import os
import shutil

import numpy as np
import pyarrow.parquet
import pytest

from jaxlens import recommend
from jaxlens.data import synthetic
from jaxlens.serving import restore
from jaxlens.train import loop
from tests import helpers

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('restoring_once')]


def _recommend(capsys, *args):
  """(exit status, stdout, stderr) of `jaxlens recommend ARGS` in this process."""
  status = recommend.main([str(a) for a in args])
  out, err = capsys.readouterr()
  return status, out, err


def _target_ranks(path, restored):
  """From a full --keep_seen list: each target's rank among candidates the evaluator counts
  (its seen items left out, the target kept)."""
  table = pyarrow.parquet.read_table(path).to_pydict()
  data = restored.data
  rows = {str(item): row for row, item in enumerate(data.original_item_ids)}
  lists = {}
  for user, item in zip(table['user'], table['item']):
    lists.setdefault(user, []).append(rows[str(item)])
  ranks = []
  for index, user in enumerate(data.users):
    sequence = data.sequences[index]
    target, seen = sequence[-1], set(sequence[:-1].tolist()) - {0}
    kept = [row for row in lists[user] if row == target or row not in seen]
    ranks.append(kept.index(target) + 1)
  return np.asarray(ranks)


def _assert_ranks_are_the_evaluators(capsys, workdir, tmp_path):
  restored = restore.restore(workdir, show_progress=False)
  want, _ = restored.evaluation.ranks(restored.states, 'test')
  out = tmp_path / 'ranks.parquet'
  status, _, err = _recommend(capsys, '--workdir', workdir, '--all_users', '--as_of', 'test',
                              '--keep_seen', '--k', restored.data.num_items, '--out', out)
  assert status == 0, err
  got = _target_ranks(out, restored)
  np.testing.assert_array_equal(got, want)
  assert len(set(want.tolist())) > 3  # the ranks differ between users: the check has teeth


def test_ranks_are_the_evaluators_sequence_video(capsys, toy_run, tmp_path):
  _assert_ranks_are_the_evaluators(capsys, toy_run.workdir, tmp_path)


def _synthetic_run(tmp_path, config, mesh_model):
  pairs = tmp_path / 'pairs.tsv'
  helpers.write_pairs(pairs, synthetic.sequential_interactions())
  config.data.pairs_path = str(pairs)
  config.train.epochs = 1
  config.mesh.model = mesh_model
  workdir = str(tmp_path / 'run')
  loop.train_and_evaluate(config, workdir)
  return workdir


@pytest.mark.parametrize('kind', ['cf_id', 'graph_features', 'pair_scoring_id_features'])
def test_ranks_are_the_evaluators(capsys, tmp_path, kind):
  if kind == 'cf_id':
    config, mesh_model = helpers.tiny_config(user_tower='dssm'), 2
  elif kind == 'graph_features':
    config, mesh_model = helpers.tiny_features_config(tmp_path / 'features', 'features',
                                                      'lightgcn'), 4
  else:
    config, mesh_model = helpers.tiny_features_config(tmp_path / 'features', 'id+features',
                                                      'nfm'), 2
  workdir = _synthetic_run(tmp_path, config, mesh_model)
  _assert_ranks_are_the_evaluators(capsys, workdir, tmp_path)


def test_a_few_users_print_a_table_and_every_format_holds_the_same(capsys, toy_run, tmp_path):
  users = ','.join(toy_run.users[:2])
  status, out, err = _recommend(capsys, '--workdir', toy_run.workdir, '--users', users,
                                '--k', 5)
  assert status == 0, err
  assert out.count('\n  rank ') == 2 and f'user {toy_run.users[0]}' in out
  assert 'toy video' in out  # titles and categories of the built items dataset
  tables = {}
  for suffix in ('jsonl', 'csv', 'parquet'):
    path = tmp_path / f'recs.{suffix}'
    status, _, err = _recommend(capsys, '--workdir', toy_run.workdir, '--users', users, '--k',
                                5, '--out', path)
    assert status == 0, err
    tables[suffix] = _read(path)
  assert tables['jsonl'] == tables['csv'] == tables['parquet']
  assert len(tables['csv']) == 10 and not list(tmp_path.glob('*.tmp'))


def _read(path):
  """(user, item, score rounded) rows of a recommendations file of any format."""
  if path.suffix == '.jsonl':
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [(line['user'], int(item['item']), round(item['score'], 4))
            for line in lines for item in line['items']]
  import pyarrow.csv  # pylint: disable=g-import-not-at-top
  reader = pyarrow.csv.read_csv if path.suffix == '.csv' else pyarrow.parquet.read_table
  table = reader(path).to_pydict()
  return [(str(u), int(i), round(s, 4)) for u, i, s in zip(table['user'], table['item'],
                                                           table['score'])]


def test_a_history_ranks_as_the_user_it_is(capsys, toy_run, tmp_path):
  """A sequence tower reads only the history: a user's items given as --history rank exactly
  as that user does."""
  restored = toy_run.restored
  row = 3
  sequence = restored.data.sequences[row]
  history = ','.join(str(restored.data.original_item_ids[i]) for i in sequence[sequence > 0])
  by_user, by_history = tmp_path / 'user.jsonl', tmp_path / 'history.jsonl'
  assert _recommend(capsys, '--workdir', toy_run.workdir, '--users', restored.data.users[row],
                    '--out', by_user)[0] == 0
  assert _recommend(capsys, '--workdir', toy_run.workdir, '--history', history, '--out',
                    by_history)[0] == 0
  items = lambda path: [(i['item'], round(i['score'], 4))
                        for i in json.loads(path.read_text())['items']]
  assert items(by_user) == items(by_history) and len(items(by_user)) == 10


def _bad(capsys, tmp_path, *args):
  out = tmp_path / 'bad.csv'
  status, _, err = _recommend(capsys, *args, '--out', out)
  assert status == 2
  assert err.startswith('error: ') and err.count('\n') == 1, err
  assert not out.exists() and not list(tmp_path.glob('*.tmp'))
  return err


def test_bad_input_is_one_line(capsys, toy_run, tmp_path):
  workdir = toy_run.workdir
  assert 'unknown user id' in _bad(capsys, tmp_path, '--workdir', workdir, '--users', 'nobody')
  assert 'unknown item id' in _bad(capsys, tmp_path, '--workdir', workdir, '--history',
                                   '1,999999')
  assert '--history is empty' in _bad(capsys, tmp_path, '--workdir', workdir, '--history', ',')
  assert 'more than the 400 items' in _bad(capsys, tmp_path, '--workdir', workdir,
                                            '--users', toy_run.users[0], '--k', 401)
  untrained = tmp_path / 'untrained'
  untrained.mkdir()
  shutil.copy(os.path.join(workdir, 'config.json'), untrained)
  assert 'no committed checkpoint' in _bad(capsys, tmp_path, '--workdir', untrained, '--users',
                                           toy_run.users[0])
  status, _, err = _recommend(capsys, '--workdir', workdir, '--users', toy_run.users[0], '--out',
                              tmp_path / 'recs.txt')
  assert status == 2 and err.startswith('error: --out') and 'unknown format' in err
