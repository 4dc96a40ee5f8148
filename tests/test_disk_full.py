"""A disk that fills up during a checkpoint save: one line naming the folder and the space a step
takes, the partial step removed, the previous step intact, and the next run resumes from it.

The disk is a size-limited tmpfs, mounted in a mount namespace of a child process (`unshare`:
root, or a user namespace where the kernel allows them), so nothing outside it sees the mount.
"""

import errno
import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from jaxlens.data import synthetic
from jaxlens.errors import JaxlensError
from jaxlens.train import loop
from jaxlens.train.checkpoint import Checkpoints, RunState
from tests import helpers

_UNSHARE = ['unshare', '--user', '--map-root-user', '--mount']


def _in_a_small_disk(disk, size_kb: int, script: str, *argv: str) -> subprocess.CompletedProcess:
  """Runs the shell `script` (arguments `argv`) with a tmpfs of `size_kb` KB on `disk`;
  `remount KB` in the script resizes it."""
  os.makedirs(disk, exist_ok=True)
  setup = (f'mount -t tmpfs -o size={size_kb}k tmpfs {disk} || exit 99; '
           f'remount() {{ mount -o remount,size=$1k {disk}; }}; ')
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu', PYTHONPATH=helpers.REPO)
  done = subprocess.run([*_UNSHARE, 'sh', '-c', setup + script, 'sh', *argv], cwd=helpers.REPO,
                        env=env, capture_output=True, text=True, timeout=900, check=False)
  if done.returncode == 99 or 'unshare:' in done.stderr[:200]:
    pytest.skip(f'no size-limited tmpfs here: {done.stderr.strip()[:200]}')
  return done


_SAVES = r'''
import json, os, subprocess, sys
from jaxlens.errors import JaxlensError
from jaxlens.train import checksums
from jaxlens.train.checkpoint import Checkpoints, RunState
from tests import helpers
disk, pairs_path = sys.argv[1:]
config = helpers.tiny_config()
config.data.pairs_path = pairs_path
state = helpers.train_state(config)
checkpoints = Checkpoints(disk)
checkpoints.save(3, state, RunState(saved_step=3))
checkpoints.wait()
used = os.statvfs(disk)
used_kb = (used.f_blocks - used.f_bfree) * used.f_frsize // 1024
step_kb = used_kb  # the first step is nearly all that is on the disk
subprocess.run(['sh', '-c', f'mount -o remount,size={used_kb + step_kb // 2}k {disk}'], check=True)
report = {}
try:
  checkpoints.save(6, state, RunState(saved_step=6))
  checkpoints.wait()
except JaxlensError as e:
  report['error'] = str(e)
report['listing'] = sorted(os.listdir(f'{disk}/checkpoints'))
report['step 3'] = checksums.check(f'{disk}/checkpoints/3')
subprocess.run(['sh', '-c', f'mount -o remount,size={4 * used_kb}k {disk}'], check=True)
_, run = Checkpoints(disk).restore_latest(state)
report['resumed'] = run.saved_step
print(json.dumps(report))
'''


def test_a_save_on_a_full_disk_stops_in_one_line_and_keeps_the_previous_step(tmp_path):
  pairs_path = tmp_path / 'toy_pairs.tsv'
  helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  disk = tmp_path / 'disk'
  done = _in_a_small_disk(disk, 65536, f'exec {sys.executable} -c "$@"', _SAVES, str(disk),
                          str(pairs_path))
  assert done.returncode == 0, done.stderr[-3000:]
  report = json.loads(done.stdout.strip().splitlines()[-1])
  assert re.fullmatch(rf'{disk}/checkpoints ran out of disk space saving step 6: a step takes '
                      r'about [\d.]+ MB \([\d.]+ MB free\); free some space and run the same '
                      r'command to resume from step 3', report['error']), report['error']
  assert report['listing'] == ['3', 'committed.json']  # the partial step 6 removed
  assert report['step 3'] is None  # intact
  assert report['resumed'] == 3


def test_a_write_landing_after_the_failure_leaves_no_partial_folder(tmp_path, monkeypatch):
  """When one array's write fails for space, the others are still in flight, and in the space
  the removal frees they create the step's folder again (a save here that fails at once, with
  a write that lands 0.3 s later)."""
  pairs_path = tmp_path / 'toy_pairs.tsv'
  helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  config = helpers.tiny_config()
  config.data.pairs_path = str(pairs_path)
  state = helpers.train_state(config)
  checkpoints = Checkpoints(str(tmp_path / 'run'))
  checkpoints.save(3, state, RunState(saved_step=3))
  checkpoints.wait()
  partial = tmp_path / 'run' / 'checkpoints' / '6.orbax-checkpoint-tmp'

  def late_write():
    time.sleep(0.3)
    (partial / 'state').mkdir(parents=True, exist_ok=True)
    (partial / 'state' / 'array').write_bytes(b'\0' * 64)

  straggler = threading.Thread(target=late_write)

  def failing_save(*args, **kwargs):
    del args, kwargs
    partial.mkdir()
    straggler.start()
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(checkpoints._manager, 'save', failing_save)  # pylint: disable=protected-access
  with pytest.raises(JaxlensError, match='ran out of disk space saving step 6'):
    checkpoints.save(6, state, RunState(saved_step=6))
  straggler.join()
  assert sorted(os.listdir(tmp_path / 'run' / 'checkpoints')) == ['3', 'committed.json']


@pytest.mark.slow
def test_a_run_whose_disk_fills_up_resumes_once_there_is_space(tmp_path):
  """The command line end to end: epoch 1 commits step 3; the disk is then left with room for
  half a step, and the same command for 2 epochs stops at the save of step 6 with one line and
  exit status 2 (its log lines lost, not printed); with space again, it resumes from step 3 to
  the results of a run that never stopped."""
  pairs_path = tmp_path / 'toy_pairs.tsv'
  helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  config = helpers.tiny_config()
  config.data.pairs_path = str(pairs_path)
  straight = loop.train_and_evaluate(config, str(tmp_path / 'straight'))
  disk, out = tmp_path / 'disk', tmp_path / 'out'
  out.mkdir()
  command = lambda epochs: ' '.join([
      sys.executable, '-m', 'jaxlens.main', '--config', 'configs/sasrec_id.py', '--workdir',
      f'{disk}/run', *[f'--config.{k}={v}' for k, v in (
          ('data.pairs_path', pairs_path), ('data.max_seq_len', 6), ('model.hidden', 16),
          ('train.batch_size', 16), ('train.epochs', epochs), ('eval.batch_size', 16),
          ('optim.lr', 0.01))]])
  done = _in_a_small_disk(disk, 65536, (
      f'{command(1)} > /dev/null 2> {out}/epoch1.err || exit 98; '
      f'used=$(df -k --output=used {disk} | tail -1); '
      f'step=$(du -sk {disk}/run/checkpoints/3 | cut -f1); remount $((used + step / 2)); '
      f'{command(2)} > /dev/null 2> {out}/first.err; echo $? > {out}/first.status; '
      f'ls {disk}/run/checkpoints > {out}/listing; remount 65536; '
      f'{command(2)} > /dev/null 2> {out}/second.err; echo $? > {out}/second.status; '
      f'cp {disk}/run/results.json {out}/'))
  assert done.returncode == 0, (done.stderr[-3000:], (out / 'epoch1.err').read_text()[-3000:])
  first = [line for line in re.split(r'[\r\n]', (out / 'first.err').read_text())
           if re.match(r'[WEF]\d{4} |error:|Traceback|--- Logging error', line)]
  assert (out / 'first.status').read_text().strip() == '2'
  assert len(first) == 1 and first[0].startswith(
      f'error: {disk}/run/checkpoints ran out of disk space saving step 6: a step takes about '), \
      first
  assert first[0].endswith('run the same command to resume from step 3')
  assert (out / 'listing').read_text().split() == ['3', 'committed.json']
  assert (out / 'second.status').read_text().strip() == '0', (out / 'second.err').read_text()
  resumed = json.loads((out / 'results.json').read_text())
  for split in ('valid', 'test'):
    for name, value in straight[split].items():
      np.testing.assert_allclose(resumed[split][name], value, atol=1e-6, err_msg=name)
