"""Multi-host for real: 2 JAX processes on localhost (4 simulated devices each) train ID and
video models like 1 process with 8 devices, and checkpoints move between process counts and
meshes. Every ID run is compared with one straight 1-process run, whose workdir is also the
finished run a damaged-checkpoint test copies."""

import glob
import json
import os
import shutil
import signal
import time

import numpy as np
import pytest

from benchmarks import checkpoint_chaos as chaos
from jaxlens.data import synthetic
from tests import helpers, multiprocess

pytestmark = pytest.mark.slow  # each test starts a multi-process job

TOLERANCE = 1e-5


@pytest.fixture(scope='module')
def pairs_path(tmp_path_factory):
  path = tmp_path_factory.mktemp('data') / 'toy_pairs.tsv'
  helpers.write_pairs(path, synthetic.sequential_interactions(users=40))
  return str(path)


def _argv(workdir, pairs_path, *extra):
  overrides = {'data.pairs_path': pairs_path, 'data.max_seq_len': 6, 'model.hidden': 16,
               'train.batch_size': 16, 'train.epochs': 2, 'eval.batch_size': 16,
               'optim.lr': 0.01}
  return ['--config', 'configs/sasrec_id.py', '--workdir', str(workdir),
          *[f'--config.{k}={v}' for k, v in overrides.items()], *extra]


def _results(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)


def _assert_same_results(got, want):
  for split in ('valid', 'test'):
    for name, value in want[split].items():
      np.testing.assert_allclose(got[split][name], value, atol=TOLERANCE, err_msg=name)
  assert [h['epoch'] for h in got['history']] == [h['epoch'] for h in want['history']]
  for a, b in zip(got['history'], want['history']):
    for name, value in b['valid'].items():
      np.testing.assert_allclose(a['valid'][name], value, atol=TOLERANCE)


@pytest.fixture(scope='module')
def one_process_run(tmp_path_factory, pairs_path):
  """The straight 2-epoch run on 1 process with 8 devices: its workdir and results."""
  workdir = tmp_path_factory.mktemp('one') / 'run'
  [(status, _, stderr)] = multiprocess.wait(
      multiprocess.launch(_argv(workdir, pairs_path), processes=1, devices_per_process=8))
  assert status == 0, stderr[-3000:]
  return workdir, _results(workdir)


@pytest.fixture(scope='module')
def one_process(one_process_run):
  return one_process_run[1]


def test_two_processes_train_like_one(tmp_path, pairs_path, one_process):
  workdir = tmp_path / 'two'
  outcomes = multiprocess.wait(
      multiprocess.launch(_argv(workdir, pairs_path), processes=2, devices_per_process=4))
  for status, _, stderr in outcomes:
    assert status == 0, stderr[-3000:]
  _assert_same_results(_results(workdir), one_process)
  assert len(glob.glob(str(workdir / 'tensorboard' / '*'))) == 1  # process 0 only
  assert 'test HR@10=' in outcomes[0][1] and 'test HR@10=' not in outcomes[1][1]
  for process in (0, 1):  # each process loads its half of every global batch of 16
    with open(workdir / 'logs' / f'process_{process}.log') as f:
      assert f'process {process} of 2 loads rows {8 * process}-{8 * process + 7} of every ' \
             'global batch of 16' in f.read()


def test_two_processes_train_video_like_one(tmp_path, toy_data_dir):
  """The toy VideoRec run (tiny_c3d from scratch, 8 steps): each process decodes its slice of
  the batch's distinct clips; the same results as 1 process with 8 devices."""
  argv = ['--config', 'configs/sasrec_v.py:toy', f'--config.data.dir={toy_data_dir}',
          '--config.train.epochs=1', '--config.train.batch_size=256', '--config.model.hidden=16',
          '--config.data.frame_size=16', '--config.data.max_seq_len=6']
  [(status, _, stderr)] = multiprocess.wait(multiprocess.launch(
      argv + ['--workdir', str(tmp_path / 'one')], processes=1, devices_per_process=8))
  assert status == 0, stderr[-3000:]
  outcomes = multiprocess.wait(multiprocess.launch(
      argv + ['--workdir', str(tmp_path / 'two')], processes=2, devices_per_process=4))
  for status, _, stderr in outcomes:
    assert status == 0, stderr[-3000:]
  _assert_same_results(_results(tmp_path / 'two'), _results(tmp_path / 'one'))
  assert len(glob.glob(str(tmp_path / 'two' / 'tensorboard' / '*'))) == 1
  with open(tmp_path / 'two' / 'logs' / 'process_1.log') as f:
    assert 'process 1 of 2 loads rows 128-255 of every global batch of 256' in f.read()


def test_two_process_checkpoint_resumes_on_one_device(tmp_path, pairs_path, one_process):
  """SIGTERM as soon as both processes finished their setup: the notice reaches the training
  steps' sync point (mid-epoch, before any step could end the run), however loaded the host.
  The checkpoint of mesh (8,) over 2 processes resumes on 1 process with a single device."""
  workdir = tmp_path / 'run'
  children = multiprocess.launch(_argv(workdir, pairs_path), processes=2, devices_per_process=4)
  logs = [workdir / 'logs' / f'process_{process}.log' for process in (0, 1)]
  start = time.time()
  while not all(log.exists() and 'loads rows' in log.read_text() for log in logs):
    assert time.time() - start < 600 and all(c.poll() is None for c in children)
    time.sleep(0.01)
  for child in children:
    child.send_signal(signal.SIGTERM)
  outcomes = multiprocess.wait(children)
  assert [status for status, _, _ in outcomes] == [75, 75], outcomes[0][2][-3000:]
  assert glob.glob(str(workdir / 'checkpoints' / '*' / 'commit_success.txt'))
  [(status, _, stderr)] = multiprocess.wait(multiprocess.launch(
      _argv(workdir, pairs_path, '--config.mesh.data=1', '--config.mesh.model=1'), processes=1,
      devices_per_process=1))
  assert status == 0, stderr[-3000:]
  _assert_same_results(_results(workdir), one_process)


def test_checkpoint_of_mesh_8_resumes_on_mesh_4_by_2(tmp_path, pairs_path, one_process):
  """Written on (8,), resumed with the tables sharded over a model axis (a single device:
  `test_two_process_checkpoint_resumes_on_one_device`)."""
  workdir = tmp_path / 'run'
  [(status, _, stderr)] = multiprocess.wait(multiprocess.launch(
      _argv(workdir, pairs_path, '--config.train.epochs=1'), processes=1,
      devices_per_process=8))
  assert status == 0, stderr[-3000:]
  [(status, _, stderr)] = multiprocess.wait(multiprocess.launch(
      _argv(workdir, pairs_path, '--config.mesh.data=4', '--config.mesh.model=2'), processes=1,
      devices_per_process=8))
  assert status == 0, stderr[-3000:]
  _assert_same_results(_results(workdir), one_process)


def test_a_two_process_job_falls_back_past_a_damaged_step_together(tmp_path, pairs_path,
                                                                   one_process_run):
  """Process 0 checks the files and moves the damaged step aside; both processes restore the
  same intact step and say nothing else."""
  workdir = tmp_path / 'run'
  shutil.copytree(one_process_run[0], workdir)
  os.remove(workdir / 'results.json')
  chaos.damage(str(workdir / 'checkpoints' / '6' / 'state' / '_METADATA'), 'bytes flipped')
  outcomes = multiprocess.wait(
      multiprocess.launch(_argv(workdir, pairs_path), processes=2, devices_per_process=4))
  assert [status for status, _, _ in outcomes] == [0, 0], outcomes[0][2][-3000:]
  for process, (_, _, stderr) in enumerate(outcomes):
    warned = [line for line in stderr.splitlines() if 'is damaged' in line]
    assert len(warned) == (1 if process == 0 else 0), stderr[-3000:]
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', '6', '6.damaged', 'committed.json']
  _assert_same_results(_results(workdir), one_process_run[1])
