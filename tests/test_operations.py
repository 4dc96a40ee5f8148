"""What people expect on accelerators: a readable terminal with the full log in the workdir, a
compilation cache, profiles, the ahead-of-time report, device-resident clips, and a failed
multi-process launch that says so."""

import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from jaxlens import sharding
from jaxlens.data import interactions as interactions_lib
from jaxlens.data import synthetic
from jaxlens.data.clips import ClipStore
from jaxlens.train import configuration, loop
from tests import helpers

pytestmark = pytest.mark.slow  # each test runs the command line

INFO_LINE = re.compile(r'^I\d{4} ', re.MULTILINE)  # absl's INFO prefix


def _cli(tmp_path, *args, env=None, module='jaxlens.main'):
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu', **(env or {}))
  return subprocess.run([sys.executable, '-m', module, *args], cwd=helpers.REPO, env=env,
                        capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def pairs_path(tmp_path_factory):
  path = tmp_path_factory.mktemp('data') / 'toy_pairs.tsv'
  helpers.write_pairs(path, synthetic.sequential_interactions(users=40))
  return str(path)


def _tiny(workdir, pairs_path):
  return ['--config', 'configs/sasrec_id.py:cpu', '--workdir', str(workdir),
          f'--config.data.pairs_path={pairs_path}', '--config.data.max_seq_len=6',
          '--config.train.batch_size=16', '--config.eval.batch_size=16', '--config.train.epochs=2']


def test_terminal_is_quiet_and_the_workdir_keeps_log_cache_and_profile(tmp_path, pairs_path):
  workdir = tmp_path / 'run'
  cache = tmp_path / 'cache'  # 'auto' is off on CPU
  # One step traced: a trace that reaches the epoch's end records its evaluation's compilation.
  result = _cli(tmp_path, *_tiny(workdir, pairs_path), '--config.profile_steps=1,1',
                f'--config.compilation_cache_dir={cache}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert not INFO_LINE.search(result.stderr), result.stderr[:2000]
  assert len(re.findall(r'epoch \d+: valid', result.stdout)) == 2
  assert 'test HR@10=' in result.stdout
  with open(workdir / 'logs' / 'process_0.log') as f:
    log = f.read()
  assert 'Saving checkpoint at step 3' in log and 'profile written to' in log
  assert glob.glob(str(workdir / 'profile' / '**' / '*.xplane.pb'), recursive=True)
  assert os.listdir(cache) and not os.path.exists(workdir / 'compilation_cache')
  # The same run again, reading the programs the first one compiled (through JAX's own
  # variable, as config.compilation_cache_dir stays 'auto').
  verbose = _cli(tmp_path, *_tiny(tmp_path / 'verbose', pairs_path), '--alsologtostderr',
                 env={'JAX_COMPILATION_CACHE_DIR': str(cache)})
  assert verbose.returncode == 0, verbose.stderr[-3000:]
  assert INFO_LINE.search(verbose.stderr)
  assert not os.path.exists(tmp_path / 'verbose' / 'compilation_cache')  # 'auto' on CPU


def test_failed_multi_process_launch_is_one_line(tmp_path, pairs_path):
  result = _cli(tmp_path, *_tiny(tmp_path / 'run', pairs_path), '--coordinator_address=',
                '--num_processes=2', '--process_id=0', env={'SLURM_NTASKS': '2'})
  assert result.returncode == 2, result.stderr[-2000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and 'this is a multi-process launch (SLURM_NTASKS=2)' in errors[0]
  assert not (tmp_path / 'run').exists()


def test_ahead_of_time_report(tmp_path):
  result = _cli(tmp_path, '--config', 'configs/sasrec_id.py:cpu', '--users=300', '--items=200',
                module='jaxlens.aot')
  assert result.returncode == 0, result.stderr[-3000:]
  rows = {line.split('|')[1].strip(): line for line in result.stdout.splitlines()
          if line.startswith('| ') and 'function' not in line}
  assert set(rows) == {'train step', 'item table', 'user tower tables', 'ranking (one batch)'}
  tflops = float(rows['train step'].split('|')[2])
  assert tflops > 0 and rows['train step'].rstrip(' |').endswith('yes')


def _fake_clips(monkeypatch):
  monkeypatch.setattr(interactions_lib, 'clip_store', lambda data_config, data: ClipStore(
      synthetic.RandomFrames(data_config.num_frames, data_config.frame_size),
      data.original_item_ids, in_memory=True))


def _tiny_video(pairs_path, store):
  config = helpers.tiny_video_config()
  config.data.pairs_path, config.data.clip_store = pairs_path, store
  config.train.epochs = 1  # 3 steps, a validation, a checkpoint restored and tested
  return config


def test_clips_on_the_devices_train_exactly_as_decoded_on_the_host(tmp_path, monkeypatch,
                                                                    capsys, pairs_path):
  _fake_clips(monkeypatch)
  results = {}
  for store in ('host', 'device'):
    results[store] = loop.train_and_evaluate(_tiny_video(pairs_path, store), str(tmp_path / store))
    where = 'on the devices' if store == 'device' else 'decoded on the host'
    assert f'clips: {where}' in capsys.readouterr().out
  for split in ('valid', 'test'):
    for name, value in results['host'][split].items():
      np.testing.assert_allclose(results['device'][split][name], value, atol=1e-6)
  # 'auto' on CPU: no device memory limit, so the host's path (the run's choice, made and said
  # by `clips_of` at its start).
  config = configuration.prepare(_tiny_video(pairs_path, 'auto'))
  data = interactions_lib.load(config.data)
  store, table = loop.clips_of(config, data, sharding.make_mesh(config.mesh), is_main=True)
  assert store is not None and table is None
  assert 'clips: decoded on the host' in capsys.readouterr().out
