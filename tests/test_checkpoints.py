"""Checkpoints survive any kill and any damage: one atomic commit per epoch, damaged steps moved
aside (never deleted) with a fall back to the newest intact one, and kills at any moment resume
to the same results as a run never stopped."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxlens.data import synthetic
from jaxlens.errors import JaxlensError
from jaxlens.eval.evaluation import Evaluation
from jaxlens.train import loop
from jaxlens.train.checkpoint import Checkpoints
from tests import helpers

pytestmark = pytest.mark.slow  # each test trains and kills runs


def _config(tmp_path, epochs=2):
  pairs_path = tmp_path / 'toy_pairs.tsv'
  if not pairs_path.exists():
    helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  config = helpers.tiny_config()
  config.data.pairs_path = str(pairs_path)
  config.train.epochs = epochs
  return config


def _truncate_state(step_dir):
  for path in glob.glob(os.path.join(step_dir, 'state', '**', 'd', '*'), recursive=True):
    with open(path, 'r+b') as f:
      f.truncate(os.path.getsize(path) // 2)


def test_damaged_latest_falls_back_to_the_previous_step(tmp_path, caplog):
  workdir = tmp_path / 'run'
  straight = loop.train_and_evaluate(_config(tmp_path), str(workdir))
  checkpoints = workdir / 'checkpoints'
  _truncate_state(checkpoints / '6')
  resumed = loop.train_and_evaluate(_config(tmp_path, epochs=3), str(workdir))
  assert f'checkpoint {checkpoints}/6 is damaged' in caplog.text
  assert 'resumed from step 3' in caplog.text
  assert (checkpoints / '6.damaged').is_dir()  # kept for inspection, not deleted
  # Epoch 2 was trained again from step 3 exactly as the first time.
  np.testing.assert_allclose(resumed['history'][1]['valid']['NDCG@10'],
                             straight['history'][1]['valid']['NDCG@10'], atol=1e-7)
  assert [h['epoch'] for h in resumed['history']] == [1, 2, 3]


def test_no_intact_checkpoint_is_one_line_naming_the_damaged_folders(tmp_path):
  workdir = tmp_path / 'run'
  loop.train_and_evaluate(_config(tmp_path), str(workdir))
  for step in ('3', '6'):
    os.remove(workdir / 'checkpoints' / step / 'state' / '_METADATA')
  with pytest.raises(JaxlensError) as error:
    loop.train_and_evaluate(_config(tmp_path, epochs=3), str(workdir))
  message = str(error.value)
  assert message.startswith(f'no intact checkpoint in {workdir}/checkpoints: ')
  assert f'{workdir}/checkpoints/6: ' in message and f'{workdir}/checkpoints/3: ' in message
  assert '\n' not in message
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', '6', 'committed.json']  # kept


def _declining_validation(monkeypatch):
  """Validation NDCG@10 (the selection metric) of 1, 1/2, 1/3, ...: epoch 1 is the best."""
  original, calls = Evaluation.run, []

  def declining(self, states, split, evaluators=()):
    metrics = original(self, states, split, evaluators)
    if split == 'valid':
      calls.append(split)
      metrics['NDCG@10'] = 1.0 / len(calls)
    return metrics

  monkeypatch.setattr(Evaluation, 'run', declining)


def test_damaged_best_falls_back_to_the_best_intact_step(tmp_path, monkeypatch, caplog):
  """A damaged best that is not the latest: a rerun resumes from the intact latest, trains
  nothing, and evaluates the best intact kept step instead, saying so."""
  workdir = tmp_path / 'run'
  checkpoints = workdir / 'checkpoints'
  with monkeypatch.context() as patch:
    _declining_validation(patch)
    first = loop.train_and_evaluate(_config(tmp_path, epochs=3), str(workdir))
  assert first['best_epoch'] == 1 and first.get('best_fallback') is None
  assert sorted(os.listdir(checkpoints)) == ['3', '6', '9', 'committed.json']  # best, latest 2
  _truncate_state(checkpoints / '3')
  again = loop.train_and_evaluate(_config(tmp_path, epochs=3), str(workdir))
  assert again['best_epoch'] == 2  # selection metric 1/2: the best of the intact steps 6 and 9
  fallback = again['best_fallback']
  assert fallback['recorded_epoch'] == 1 and fallback['recorded_step'] == 3
  assert fallback['reason'].startswith(f'{checkpoints}/3 is damaged (')
  assert fallback['reason'].endswith(f'moved to {checkpoints}/3.damaged')
  assert f'checkpoint {checkpoints}/3 is damaged' in caplog.text
  assert sorted(os.listdir(checkpoints)) == ['3.damaged', '6', '9', 'committed.json']
  # The weights evaluated are epoch 2's.
  np.testing.assert_allclose(again['valid']['HR@10'], first['history'][1]['valid']['HR@10'],
                             atol=1e-7)
  with open(workdir / 'results.json') as f:
    assert json.load(f)['best_fallback'] == fallback
  # Every later rerun evaluates the same step and says why.
  third = loop.train_and_evaluate(_config(tmp_path, epochs=3), str(workdir))
  assert third['best_epoch'] == 2
  assert third['best_fallback']['reason'] == (
      f'{checkpoints}/3 was moved aside as damaged before ({checkpoints}/3.damaged)')
  assert sorted(os.listdir(checkpoints)) == ['3.damaged', '6', '9', 'committed.json']


def test_a_resumed_run_keeps_the_best_step_of_an_earlier_session(tmp_path, monkeypatch):
  """The best of a session that ended is kept through the two newer saves of the next one (Orbax
  holds step metrics in memory only: a metric policy forgets them at a resume)."""
  workdir = tmp_path / 'run'
  checkpoints = workdir / 'checkpoints'
  _declining_validation(monkeypatch)  # for both sessions: epoch 1 stays the best
  loop.train_and_evaluate(_config(tmp_path, epochs=2), str(workdir))
  assert sorted(os.listdir(checkpoints)) == ['3', '6', 'committed.json']
  longer = loop.train_and_evaluate(_config(tmp_path, epochs=3), str(workdir))  # resumes at 6
  assert sorted(os.listdir(checkpoints)) == ['3', '6', '9', 'committed.json']
  assert longer['best_epoch'] == 1 and longer['best_fallback'] is None


def test_no_intact_best_is_one_line_naming_the_damaged_folders(tmp_path, monkeypatch):
  workdir = tmp_path / 'run'
  checkpoints = workdir / 'checkpoints'
  loop.train_and_evaluate(_config(tmp_path), str(workdir))
  restore_latest = Checkpoints.restore_latest

  def then_damage(self, state):  # damage after the resume, before the final evaluation
    restored = restore_latest(self, state)
    for step in ('3', '6'):
      _truncate_state(checkpoints / step)
    return restored

  monkeypatch.setattr(Checkpoints, 'restore_latest', then_damage)
  with pytest.raises(JaxlensError) as error:
    loop.train_and_evaluate(_config(tmp_path), str(workdir))
  message = str(error.value)
  assert message.startswith(f'no intact checkpoint to evaluate in {checkpoints}: ')
  assert f'{checkpoints}/6: ' in message and f'{checkpoints}/3: ' in message
  assert '\n' not in message
  assert sorted(os.listdir(checkpoints)) == ['3', '6', 'committed.json']  # nothing moved


def test_checkpoint_of_another_model_is_a_config_error_not_damage(tmp_path):
  workdir = tmp_path / 'run'
  loop.train_and_evaluate(_config(tmp_path, epochs=1), str(workdir))
  os.remove(workdir / 'config.json')  # as a workdir from before config.json existed
  wider = _config(tmp_path)
  wider.model.hidden = 32
  with pytest.raises(JaxlensError, match=r'checkpoints/3 holds a model of other shapes than '
                                         r'the config builds \(.*\(16'):
    loop.train_and_evaluate(wider, str(workdir))
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', 'committed.json']


def _launch(config, workdir):
  overrides = [f'--config.{k}={v}' for k, v in (
      ('data.pairs_path', config.data.pairs_path), ('data.max_seq_len', 6), ('model.hidden', 16),
      ('train.batch_size', 16), ('train.epochs', 2), ('eval.batch_size', 16), ('optim.lr', 0.01))]
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  return subprocess.Popen([sys.executable, '-m', 'jaxlens.main', '--config',
                           'configs/sasrec_id.py', '--workdir', str(workdir), *overrides],
                          cwd=helpers.REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)


def _kill_when(process, ready, timeout=240):
  start = time.time()
  while not ready() and process.poll() is None and time.time() - start < timeout:
    time.sleep(0.005)
  process.send_signal(signal.SIGKILL)
  process.wait()


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp('straight')
  config = _config(tmp_path)
  return config, loop.train_and_evaluate(config, str(tmp_path / 'run'))


@pytest.mark.parametrize('moment', ['during the first save', 'after the first commit'])
def test_sigkill_at_any_moment_resumes_to_the_straight_results(tmp_path, moment, straight_run):
  config, straight = straight_run
  workdir = tmp_path / 'killed'
  checkpoints = workdir / 'checkpoints'
  ready = {'during the first save': lambda: bool(glob.glob(str(checkpoints / '*tmp*'))),
           'after the first commit': lambda: (checkpoints / '3' / 'commit_success.txt').exists()}
  _kill_when(_launch(config, workdir), ready[moment])
  finished = _launch(config, workdir)
  _, stderr = finished.communicate(timeout=600)
  assert finished.returncode == 0, stderr[-2000:]
  with open(workdir / 'results.json') as f:
    resumed = json.load(f)
  for split in ('valid', 'test'):
    for name, value in straight[split].items():
      np.testing.assert_allclose(resumed[split][name], value, atol=1e-6, err_msg=name)
  assert resumed['best_epoch'] == straight['best_epoch']
