"""One live run per workdir: a second run stops with one line naming the holder, a lock left by a
killed run never blocks, on a disk (fcntl) and in a bucket (a lease, against the emulator), and a
multi-process job holds one lock."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from google.cloud import storage

from jaxlens.data import synthetic
from jaxlens.errors import JaxlensError
from jaxlens.train import workdir_lock
from tests import helpers, multiprocess
from tests.gcs_emulator import BUCKET, bucket  # pylint: disable=unused-import  # a fixture

HOLDER = re.compile(r'is in use by another run \(host (\S+), pid (\d+), since (\S+)')


def _refused(workdir) -> re.Match:
  with pytest.raises(JaxlensError) as error:
    with workdir_lock.held(str(workdir)):
      pass
  assert '\n' not in str(error.value)
  match = HOLDER.search(str(error.value))
  assert match, str(error.value)
  return match


def test_a_second_run_on_a_local_workdir_is_refused_naming_the_holder(tmp_path):
  workdir = tmp_path / 'run'
  with workdir_lock.held(str(workdir)):
    host, pid, _ = _refused(workdir).groups()
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
  with workdir_lock.held(str(workdir)):  # released at the end
    pass


def test_a_workdir_created_for_nothing_is_removed_with_its_lock(tmp_path):
  with workdir_lock.held(str(tmp_path / 'run')):
    pass
  assert not (tmp_path / 'run').exists()


_HOLD = ('import sys, time; from jaxlens.train import workdir_lock\n'
         'with workdir_lock.held(sys.argv[1]):\n'
         '  print("held", flush=True); time.sleep(600)\n')


def test_a_lock_left_by_a_killed_run_never_blocks(tmp_path):
  workdir = tmp_path / 'run'
  workdir.mkdir()
  holder = subprocess.Popen([sys.executable, '-c', _HOLD, str(workdir)], cwd=helpers.REPO,
                            stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline() == 'held\n'
  assert int(_refused(workdir).group(2)) == holder.pid
  holder.send_signal(signal.SIGKILL)
  holder.wait()
  assert json.loads((workdir / workdir_lock.LOCK).read_text())['pid'] == holder.pid  # stale
  with workdir_lock.held(str(workdir)):
    pass


def _lease(workdir: str) -> storage.Blob:
  return storage.Client().bucket(BUCKET).get_blob(
      workdir.split(f'{BUCKET}/', 1)[1] + '/' + workdir_lock.LOCK)


def test_a_second_run_on_a_bucket_workdir_is_refused_and_the_lease_renewed(bucket, monkeypatch):
  monkeypatch.setattr(workdir_lock, 'HEARTBEAT_SECONDS', 0.2)
  workdir = f'{bucket}/runs/locked'
  with workdir_lock.held(workdir):
    host, pid, _ = _refused(workdir).groups()
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    first = json.loads(_lease(workdir).download_as_bytes())['renewed']
    time.sleep(1)
    assert json.loads(_lease(workdir).download_as_bytes())['renewed'] > first
  assert _lease(workdir) is None  # released
  with workdir_lock.held(workdir):
    pass


@pytest.mark.parametrize('stale', ['expired', 'dead process on this host'])
def test_a_stale_lease_never_blocks(bucket, stale):
  workdir = f'{bucket}/runs/{stale.replace(" ", "_")}'
  if stale == 'expired':
    holder = {'host': 'elsewhere', 'pid': 1, 'since': 'earlier',
              'renewed': time.time() - workdir_lock.LEASE_SECONDS - 1}
  else:
    dead = subprocess.Popen(['true'])
    dead.wait()
    holder = {'host': socket.gethostname(), 'pid': dead.pid, 'since': 'earlier',
              'renewed': time.time()}
  storage.Client().bucket(BUCKET).blob(
      workdir.split(f'{BUCKET}/', 1)[1] + '/' + workdir_lock.LOCK).upload_from_string(
          json.dumps(holder))
  with workdir_lock.held(workdir):
    assert json.loads(_lease(workdir).download_as_bytes())['pid'] == os.getpid()


def test_a_live_lease_of_another_host_blocks(bucket):
  workdir = f'{bucket}/runs/elsewhere'
  storage.Client().bucket(BUCKET).blob('runs/elsewhere/' + workdir_lock.LOCK).upload_from_string(
      json.dumps({'host': 'tpu-worker-3', 'pid': 7, 'since': 'then', 'renewed': time.time()}))
  assert _refused(workdir).groups() == ('tpu-worker-3', '7', 'then;')


@pytest.mark.slow
def test_a_multi_process_job_on_a_locked_workdir_stops_on_every_process(tmp_path):
  workdir = tmp_path / 'run'
  argv = ['--config', 'configs/sasrec_id.py', '--workdir', str(workdir),
          f'--config.data.pairs_path={tmp_path / "absent.tsv"}']
  with workdir_lock.held(str(workdir)):
    results = multiprocess.wait(multiprocess.launch(argv, processes=2, devices_per_process=4),
                                timeout=300)
  for status, _, stderr in results:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, stderr[-2000:]
    assert lines[0].startswith(f'error: {workdir} is in use by another run (host '
                               f'{socket.gethostname()}, pid {os.getpid()}, since ')


@pytest.mark.slow
def test_the_issues_double_launch_stops_the_second_in_one_line(tmp_path):
  pairs_path = tmp_path / 'toy_pairs.tsv'
  helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  workdir = tmp_path / 'run'
  argv = ['--config', 'configs/sasrec_id.py', '--workdir', str(workdir), *[
      f'--config.{k}={v}' for k, v in (
          ('data.pairs_path', pairs_path), ('data.max_seq_len', 6), ('model.hidden', 16),
          ('train.batch_size', 16), ('train.epochs', 2), ('eval.batch_size', 16))]]
  [first] = multiprocess.launch(argv, processes=1, devices_per_process=8)
  lock = workdir / workdir_lock.LOCK
  while first.poll() is None and not (lock.exists() and lock.read_text()):
    time.sleep(0.05)
  [(status, _, stderr)] = multiprocess.wait(multiprocess.launch(argv, processes=1,
                                                                devices_per_process=8))
  assert status == 2 and stderr.strip().splitlines() == [
      f'error: {workdir} is in use by another run (host {socket.gethostname()}, pid '
      f'{first.pid}, since {json.loads(lock.read_text())["since"]}); let it finish or stop it, '
      'or use another workdir'], stderr
  [(status, _, stderr)] = multiprocess.wait([first])
  assert status == 0, stderr[-2000:]
  assert (workdir / 'results.json').exists()
