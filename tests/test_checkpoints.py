"""Checkpoints survive any kill and any damage: one atomic commit per epoch, damaged steps moved
aside (never deleted) with a fall back to the newest intact one, and kills at any moment resume
to the same results as a run never stopped. One finished run is shared: each test that damages or
reruns a finished run works on a copy of its workdir."""

import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxlens.data import synthetic
from jaxlens.errors import JaxlensError
from jaxlens.eval.evaluation import Evaluation
from jaxlens.train import loop
from jaxlens.train.checkpoint import Checkpoints, RunState
from tests import helpers

pytestmark = pytest.mark.slow  # each test trains and kills runs


@pytest.fixture(scope='module')
def pairs_path(tmp_path_factory) -> str:
  path = tmp_path_factory.mktemp('data') / 'toy_pairs.tsv'
  helpers.write_pairs(path, synthetic.sequential_interactions(users=40))
  return str(path)


def _config(pairs_path, epochs=2):
  config = helpers.tiny_config()
  config.data.pairs_path = pairs_path
  config.train.epochs = epochs
  return config


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory, pairs_path):
  """A finished 2-epoch run (steps 3 and 6): its workdir and results."""
  workdir = tmp_path_factory.mktemp('straight') / 'run'
  return workdir, loop.train_and_evaluate(_config(pairs_path), str(workdir))


def _copy(run, tmp_path):
  """A copy of the workdir of `run` (a fixture's (workdir, ...)) to damage or rerun."""
  workdir = tmp_path / 'run'
  shutil.copytree(run[0], workdir)
  return workdir


def _truncate_state(step_dir):
  for path in glob.glob(os.path.join(step_dir, 'state', '**', 'd', '*'), recursive=True):
    with open(path, 'r+b') as f:
      f.truncate(os.path.getsize(path) // 2)


def test_damaged_latest_falls_back_to_the_previous_step(pairs_path, straight_run, tmp_path,
                                                        caplog):
  workdir = _copy(straight_run, tmp_path)
  straight = straight_run[1]
  checkpoints = workdir / 'checkpoints'
  _truncate_state(checkpoints / '6')
  resumed = loop.train_and_evaluate(_config(pairs_path, epochs=3), str(workdir))
  assert f'checkpoint {checkpoints}/6 is damaged' in caplog.text
  assert 'resumed from step 3' in caplog.text
  assert (checkpoints / '6.damaged').is_dir()  # kept for inspection, not deleted
  # Epoch 2 was trained again from step 3 exactly as the first time.
  np.testing.assert_allclose(resumed['history'][1]['valid']['NDCG@10'],
                             straight['history'][1]['valid']['NDCG@10'], atol=1e-7)
  assert [h['epoch'] for h in resumed['history']] == [1, 2, 3]


def test_no_intact_checkpoint_is_one_line_naming_the_damaged_folders(pairs_path, straight_run,
                                                                     tmp_path):
  workdir = _copy(straight_run, tmp_path)
  for step in ('3', '6'):
    os.remove(workdir / 'checkpoints' / step / 'state' / '_METADATA')
  with pytest.raises(JaxlensError) as error:
    loop.train_and_evaluate(_config(pairs_path, epochs=3), str(workdir))
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


@pytest.fixture(scope='module')
def declining_run(tmp_path_factory, pairs_path):
  """Validation declining from epoch 1, the best: a run of 2 epochs, then the same run resumed for
  a third. Its workdir, the checkpoints after the first session, and the second's results."""
  workdir = tmp_path_factory.mktemp('declining') / 'run'
  with pytest.MonkeyPatch.context() as patch:
    _declining_validation(patch)  # for both sessions: epoch 1 stays the best
    loop.train_and_evaluate(_config(pairs_path, epochs=2), str(workdir))
    first_session = sorted(os.listdir(workdir / 'checkpoints'))
    longer = loop.train_and_evaluate(_config(pairs_path, epochs=3), str(workdir))  # resumes at 6
  return workdir, first_session, longer


def test_a_resumed_run_keeps_the_best_step_of_an_earlier_session(declining_run):
  """The best of a session that ended is kept through the two newer saves of the next one (Orbax
  holds step metrics in memory only: a metric policy forgets them at a resume)."""
  workdir, first_session, longer = declining_run
  assert first_session == ['3', '6', 'committed.json']
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', '6', '9', 'committed.json']
  assert longer['best_epoch'] == 1 and longer['best_fallback'] is None


def test_damaged_best_falls_back_to_the_best_intact_step(pairs_path, declining_run, tmp_path,
                                                         caplog):
  """A damaged best that is not the latest: a rerun resumes from the intact latest, trains
  nothing, and evaluates the best intact kept step instead, saying so."""
  workdir = _copy(declining_run, tmp_path)
  checkpoints = workdir / 'checkpoints'
  first = declining_run[2]
  assert first['best_epoch'] == 1 and first.get('best_fallback') is None
  assert sorted(os.listdir(checkpoints)) == ['3', '6', '9', 'committed.json']  # best, latest 2
  _truncate_state(checkpoints / '3')
  again = loop.train_and_evaluate(_config(pairs_path, epochs=3), str(workdir))
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
  third = loop.train_and_evaluate(_config(pairs_path, epochs=3), str(workdir))
  assert third['best_epoch'] == 2
  assert third['best_fallback']['reason'] == (
      f'{checkpoints}/3 was moved aside as damaged before ({checkpoints}/3.damaged)')
  assert sorted(os.listdir(checkpoints)) == ['3.damaged', '6', '9', 'committed.json']


def test_no_intact_best_is_one_line_naming_the_damaged_folders(pairs_path, declining_run,
                                                               tmp_path, monkeypatch):
  workdir = _copy(declining_run, tmp_path)
  checkpoints = workdir / 'checkpoints'
  restore_latest = Checkpoints.restore_latest

  def then_damage(self, state):  # damage after the resume, before the final evaluation
    restored = restore_latest(self, state)
    for step in ('3', '6', '9'):
      _truncate_state(checkpoints / step)
    return restored

  monkeypatch.setattr(Checkpoints, 'restore_latest', then_damage)
  with pytest.raises(JaxlensError) as error:
    loop.train_and_evaluate(_config(pairs_path, epochs=3), str(workdir))
  message = str(error.value)
  assert message.startswith(f'no intact checkpoint to evaluate in {checkpoints}: ')
  assert all(f'{checkpoints}/{step}: ' in message for step in (3, 6, 9))
  assert '\n' not in message
  assert sorted(os.listdir(checkpoints)) == ['3', '6', '9', 'committed.json']  # nothing moved


def test_the_best_is_read_only_when_it_is_not_the_state_held(pairs_path, straight_run,
                                                             declining_run, tmp_path, monkeypatch):
  """A run that ends at its best step evaluates the state it holds; a rerun of a finished run
  reads its latest step, and its best too when that is another step (and so does restoring a
  run to serve it)."""
  from jaxlens.serving import restore  # pylint: disable=g-import-not-at-top
  reads = []
  read = Checkpoints._restore  # pylint: disable=protected-access
  monkeypatch.setattr(Checkpoints, '_restore',
                      lambda self, step, state: reads.append(step) or read(self, step, state))
  workdir = _copy(straight_run, tmp_path / 'straight')
  assert straight_run[1]['best_epoch'] == 2
  again = loop.train_and_evaluate(_config(pairs_path), str(workdir))
  assert reads == [6] and again['test'] == straight_run[1]['test']
  assert restore.restore(str(workdir), show_progress=False).step == 6 and reads == [6, 6]
  reads.clear()
  loop.train_and_evaluate(_config(pairs_path, epochs=3), str(_copy(declining_run,
                                                                   tmp_path / 'declining')))
  assert reads == [9, 3]


def test_checkpoint_of_another_model_is_a_config_error_not_damage(pairs_path, straight_run,
                                                                   tmp_path):
  workdir = _copy(straight_run, tmp_path)
  os.remove(workdir / 'config.json')  # as a workdir from before config.json existed
  wider = _config(pairs_path)
  wider.model.hidden = 32
  with pytest.raises(JaxlensError, match=r'checkpoints/6 holds a model of other shapes than '
                                         r'the config builds \(.*\(16'):
    loop.train_and_evaluate(wider, str(workdir))
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', '6', 'committed.json']


def _launch(pairs_path, workdir):
  overrides = [f'--config.{k}={v}' for k, v in (
      ('data.pairs_path', pairs_path), ('data.max_seq_len', 6), ('model.hidden', 16),
      ('train.batch_size', 16), ('train.epochs', 2), ('eval.batch_size', 16), ('optim.lr', 0.01))]
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  return subprocess.Popen([sys.executable, '-m', 'jaxlens.main', '--config',
                           'configs/sasrec_id.py', '--workdir', str(workdir), *overrides],
                          cwd=helpers.REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)


def _kill_when(process, ready, timeout=240):
  start = time.time()
  while not ready() and process.poll() is None and time.time() - start < timeout:
    time.sleep(0.005)
  process.send_signal(signal.SIGKILL)
  process.wait()


@pytest.mark.parametrize('moment', ['during the first save', 'after the first commit'])
def test_sigkill_at_any_moment_resumes_to_the_straight_results(tmp_path, moment, pairs_path,
                                                               straight_run):
  """The command killed, then the same run resumed (in this process: the command's code path
  past the flags, with nothing left to compile)."""
  straight = straight_run[1]
  workdir = tmp_path / 'killed'
  checkpoints = workdir / 'checkpoints'
  ready = {'during the first save': lambda: bool(glob.glob(str(checkpoints / '*tmp*'))),
           'after the first commit': lambda: (checkpoints / '3' / 'commit_success.txt').exists()}
  _kill_when(_launch(pairs_path, workdir), ready[moment])
  assert not (workdir / 'results.json').exists()  # killed before the end
  loop.train_and_evaluate(_config(pairs_path), str(workdir))
  with open(workdir / 'results.json') as f:
    resumed = json.load(f)
  for split in ('valid', 'test'):
    for name, value in straight[split].items():
      np.testing.assert_allclose(resumed[split][name], value, atol=1e-6, err_msg=name)
  assert resumed['best_epoch'] == straight['best_epoch']


class _ReplicatedLeaves:
  """A state of small arrays replicated over every device, of shapes no other test saves (a
  program compiled earlier in the session would hide one compiled here)."""

  def __init__(self):
    replicated = jax.NamedSharding(jax.make_mesh((jax.device_count(),), ('data',)), jax.P())
    self.leaves = {'bias': jax.device_put(np.arange(40, dtype=np.float32), replicated),
                   'scale': jax.device_put(np.ones((8, 3), np.float32), replicated)}

  def checkpointed(self):
    return self.leaves


def test_saving_small_replicated_leaves_compiles_nothing(tmp_path, caplog):
  """Orbax splits a replicated array into one slice per replica, each slice shape a program of
  its own, only when the slices are large (`REPLICA_PARALLEL_MIN_SLICE_BYTES`)."""
  assert jax.device_count() == 8
  state = _ReplicatedLeaves()
  checkpoints = Checkpoints(str(tmp_path))
  with jax.log_compiles(), caplog.at_level(logging.WARNING):
    checkpoints.save(1, state, RunState())
    checkpoints.wait()
  assert not [r.getMessage() for r in caplog.records if r.getMessage().startswith('Compiling')]
  assert checkpoints.has_any()
