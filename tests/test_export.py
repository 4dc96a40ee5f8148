"""jaxlens export: a fresh process that imports no jaxlens model code loads the export, scores
its table and reproduces jaxlens recommend's scores to 1e-5 and its top 10 exactly; an export is
refused by another run or another jaxlens version.

The tests share one export of the toy run, made with its index (exporting restores the run,
encodes its items and serializes its functions for three platforms); the refusal test edits a
copy. The run is restored once for the whole file (`serving_runs.restoring_once`)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from jaxlens import export as export_command
from jaxlens import recommend
from tests import helpers

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('restoring_once')]

# Runs in a fresh interpreter: the export's own loader, then proof that no model code came in.
FRESH = r'''
import json, sys
import numpy as np
from jaxlens.serving import exported
served = exported.Export.load(sys.argv[1])
request = json.loads(sys.argv[2])
out = {}
for user, history in request.items():
  rows = served.rows_of(history)
  queries = served.query(history=rows[None])
  scores, top = served.top_k(queries, 10, exclude=rows[None])
  out[user] = {'items': served.item_ids[top[0]].tolist(), 'scores': scores[0].tolist()}
loaded = sorted(m for m in sys.modules if m.startswith(('jaxlens.', 'flax', 'orbax', 'optax')))
print(json.dumps({'out': out, 'loaded': loaded}))
'''


def _run(main, *args):
  return main([str(a) for a in args])


@pytest.fixture(scope='module')
def export_dir(toy_run, tmp_path_factory):
  """The toy run's export, with its index."""
  out = tmp_path_factory.mktemp('export') / 'export'
  assert _run(export_command.main, '--workdir', toy_run.workdir, '--out', out, '--index') == 0
  return out


def test_a_fresh_process_reproduces_recommend(toy_run, export_dir, tmp_path, capsys):
  directory = export_dir
  note = json.loads((directory / 'note.json').read_text())
  assert note['platforms'] == ['cpu', 'cuda', 'tpu'] and note['items'] == 400
  data = toy_run.restored.data
  request = {}
  for row in (0, 7, 11):
    sequence = data.sequences[row]
    request[data.users[row]] = [int(data.original_item_ids[i]) for i in sequence[sequence > 0]]
  out = tmp_path / 'recs.jsonl'
  assert _run(recommend.main, '--workdir', toy_run.workdir, '--users', ','.join(request),
              '--out', out) == 0
  want = {line['user']: line['items'] for line in map(json.loads,
                                                      out.read_text().splitlines())}
  fresh = subprocess.run([sys.executable, '-c', FRESH, str(directory), json.dumps(request)],
                         capture_output=True, text=True, check=True, cwd=helpers.REPO,
                         env={**os.environ, 'PYTHONPATH': helpers.REPO})
  result = json.loads(fresh.stdout.strip().splitlines()[-1])
  assert result['loaded'] == ['jaxlens.serving', 'jaxlens.serving.exported']
  for user, got in result['out'].items():
    assert got['items'] == [int(item['item']) for item in want[user]]
    np.testing.assert_allclose(got['scores'], [item['score'] for item in want[user]],
                               rtol=1e-5, atol=1e-5)
  capsys.readouterr()


def test_an_export_of_another_run_or_version_is_refused(toy_run, export_dir, tmp_path, capsys):
  assert _run(export_command.main, '--workdir', toy_run.workdir, '--out', export_dir) == 2
  assert 'exists' in capsys.readouterr().err
  directory = tmp_path / 'export'
  shutil.copytree(export_dir, directory)
  user = toy_run.users[0]
  note_path = directory / 'note.json'
  note = json.loads(note_path.read_text())
  for key, value, message in (('fingerprint', '0' * 64, 'export of another model'),
                              ('jaxlens_version', '0.0.1', 'exported by jaxlens 0.0.1')):
    note_path.write_text(json.dumps({**note, key: value}))
    assert _run(recommend.main, '--workdir', toy_run.workdir, '--export', directory,
                '--users', user) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err and err.count('\n') == 1, err


def test_the_index_answers_as_the_exact_top_k_and_takes_new_items(toy_run, export_dir, tmp_path,
                                                                  capsys):
  """The toy's 400 items are few enough for ScaNN's exact search: --index must give the exact
  answer; items embedded later join the index."""
  directory = export_dir
  users = ','.join(toy_run.users[:5])
  outs = {}
  for flag in ('', '--index'):
    out = tmp_path / f'recs{flag}.jsonl'
    assert _run(recommend.main, '--workdir', toy_run.workdir, '--export', directory, '--users',
                users, '--out', out, *([flag] if flag else [])) == 0
    outs[flag] = [line['items'] for line in map(json.loads, out.read_text().splitlines())]
  for exact, approximate in zip(outs[''], outs['--index']):
    assert [i['item'] for i in exact] == [i['item'] for i in approximate]
    np.testing.assert_allclose([i['score'] for i in exact], [i['score'] for i in approximate],
                               rtol=1e-5, atol=1e-5)
  capsys.readouterr()
