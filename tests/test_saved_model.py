"""The export as a TensorFlow SavedModel: loaded with TensorFlow, it gives jaxlens recommend's
scores to 1e-5 and the same top 10.

Runs in the build venv (TensorFlow beside JAX, requirements-build.txt), as CI does; the run and
its export come from the training venv's Python, named by JAXLENS_MAIN_PYTHON (.ci/run sets it).
"""

import json
import os
import subprocess

import numpy as np
import pytest

tf = pytest.importorskip('tensorflow', reason='TensorFlow lives in the build venv: CI runs this '
                         'test there (requirements-build.txt)')

from jaxlens.serving import exported, saved_model  # pylint: disable=g-import-not-at-top,wrong-import-position

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HISTORIES = ('3,4,5', '10,11', '20,21,22,23,24,25,26')  # item ids of the synthetic data


@pytest.fixture(scope='module')
def source(tmp_path_factory):
  python = os.environ.get('JAXLENS_MAIN_PYTHON')
  if not python:
    pytest.skip('JAXLENS_MAIN_PYTHON names the training venv\'s Python (.ci/run sets it)')
  folder = tmp_path_factory.mktemp('source')
  subprocess.run([python, os.path.join(REPO, 'tests', 'saved_model_source.py'), str(folder),
                  *HISTORIES], check=True, capture_output=True, cwd=REPO,
                 env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'})
  return folder


def test_the_saved_model_scores_as_recommend(source, tmp_path):
  out = tmp_path / 'saved_model'
  assert saved_model.main(['--export', str(source / 'export'), '--out', str(out)]) == 0
  served = exported.Export.load(str(source / 'export'))
  model = tf.saved_model.load(str(out))
  item_ids = np.load(out / 'item_ids.npy')
  for n, history in enumerate(HISTORIES):
    rows = served.rows_of(history.split(','))
    inputs = np.zeros((1, served.history_length), np.int32)
    inputs[0, -len(rows):] = rows[-served.history_length:]
    scores = next(iter(model.signatures['scores'](history=tf.constant(inputs)).values())).numpy()
    scores[:, 0] = -np.inf  # padding
    scores[0, rows] = -np.inf  # seen
    top = np.argsort(-scores[0], kind='stable')[:10]
    want = json.loads((source / f'history{n}.jsonl').read_text())['items']
    assert item_ids[top].tolist() == [item['item'] for item in want]
    np.testing.assert_allclose(scores[0, top], [item['score'] for item in want], rtol=1e-5,
                               atol=1e-5)


def test_an_existing_folder_is_one_line(source, tmp_path, capsys):
  assert saved_model.main(['--export', str(source / 'export'), '--out', str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: --out') and err.count('\n') == 1
