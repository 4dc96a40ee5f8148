"""Preemption and resume: N steps straight equal N/2 steps, SIGTERM, and a resumed run. The tests
that resume a finished 1-epoch run share one and work on copies of its workdir."""

import glob
import json
import os
import shutil
import signal

import numpy as np
import pytest

from jaxlens.data import interactions as interactions_lib
from jaxlens.data import pairs, synthetic
from jaxlens.data.clips import ClipStore
from jaxlens.errors import Preempted
from jaxlens.train import checkpoint, loop
from jaxlens.train.step import Trainer
from tests import helpers

pytestmark = pytest.mark.slow  # each test trains, stops and resumes runs


def _config(pairs_path, tower='id'):
  """'id': SASRec-ID; 'video': SASRec_V on tiny_c3d's smallest clips; else the CF tower of that
  name."""
  if tower == 'video':
    config = helpers.tiny_video_config()
    config.data.num_frames, config.data.frame_size = 2, 8
  else:
    config = helpers.tiny_config('in_batch', 'sasrec' if tower == 'id' else tower)
  config.data.pairs_path = pairs_path
  return config


def _saved_trees(workdir) -> str:
  """The tree metadata of every checkpoint under `workdir` (parameter paths)."""
  paths = glob.glob(os.path.join(workdir, 'checkpoints', '*', 'state', '_METADATA'))
  assert paths
  return ''.join(open(path).read() for path in paths)


def _fake_clips(monkeypatch):
  monkeypatch.setattr(interactions_lib, 'clip_store', lambda data_config, data: ClipStore(
      synthetic.RandomFrames(data_config.num_frames, data_config.frame_size),
      data.original_item_ids, in_memory=True))


def _one_epoch(tmp_path):
  """The ID config for one epoch (3 steps) on 40 users written to `tmp_path`."""
  pairs_path = str(tmp_path / 'toy_pairs.tsv')
  helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  config = _config(pairs_path)
  config.train.epochs = 1
  return config


@pytest.fixture(scope='module')
def one_epoch_run(tmp_path_factory):
  """A finished run of `_one_epoch`: its config, workdir, and the SIGTERM handler before and
  after it."""
  root = tmp_path_factory.mktemp('one_epoch')
  config = _one_epoch(root)
  before = signal.getsignal(signal.SIGTERM)
  loop.train_and_evaluate(config, str(root / 'run'))
  return config, root / 'run', before, signal.getsignal(signal.SIGTERM)


def _copy(one_epoch_run, tmp_path):
  """The config and a copy of the workdir of `one_epoch_run`, to resume."""
  config, workdir = one_epoch_run[:2]
  shutil.copytree(workdir, tmp_path / 'run')
  return config.copy_and_resolve_references(), tmp_path / 'run'


def preempt_after(monkeypatch, steps: int):
  """SIGTERM arrives after the `steps`-th train step of this process."""
  original = Trainer.run_train_step
  calls = {'n': 0}

  def preempted(self, batch, num_positions):
    metrics = original(self, batch, num_positions)
    calls['n'] += 1
    if calls['n'] == steps:
      os.kill(os.getpid(), signal.SIGTERM)
    return metrics

  monkeypatch.setattr(Trainer, 'run_train_step', preempted)
  return lambda: monkeypatch.setattr(Trainer, 'run_train_step', original)


@pytest.mark.parametrize('tower', ['id', 'video', 'lightgcn'])
def test_sigterm_then_resume_equals_straight_run(tmp_path, monkeypatch, tower):
  _fake_clips(monkeypatch)
  pairs_path = str(tmp_path / 'toy_pairs.tsv')
  helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  assert len(pairs.read_pairs(pairs_path)) == 40

  straight = loop.train_and_evaluate(_config(pairs_path, tower), str(tmp_path / 'straight'))

  workdir = str(tmp_path / 'preempted')
  restore = preempt_after(monkeypatch, 4)  # mid-way through epoch 2 (3 steps per epoch)
  with pytest.raises(Preempted, match='at step 4'):
    loop.train_and_evaluate(_config(pairs_path, tower), workdir)
  assert not os.path.exists(os.path.join(workdir, 'results.json'))
  restore()
  resumed = loop.train_and_evaluate(_config(pairs_path, tower), workdir)

  assert [h['epoch'] for h in resumed['history']] == [1, 2]
  for split in ('valid', 'test', 'test_cold'):
    for name, value in straight[split].items():
      np.testing.assert_allclose(resumed[split][name], value, atol=1e-7, err_msg=f'{split} {name}')
  for a, b in zip(straight['history'], resumed['history']):
    for name, value in a['valid'].items():
      np.testing.assert_allclose(b['valid'][name], value, atol=1e-7)
  with open(os.path.join(workdir, 'results.json')) as f:
    written = json.load(f)
  assert set(written) == {'valid', 'test', 'test_cold', 'best_epoch', 'best_fallback',
                          'epoch_seconds', 'train_sequences_per_second', 'eval_seconds',
                          'history', 'breakdowns', 'data'}
  assert written['best_fallback'] is None
  assert set(written['test']) == {'HR@10', 'NDCG@10', 'HR@20', 'NDCG@20'}
  assert written['data'] == {'users': 40, 'items': 30, 'interactions': int(np.count_nonzero(
      synthetic.sequential_interactions(users=40).sequences))}
  if tower == 'lightgcn':  # the graph's edges are rebuilt from the data, never saved
    saved = _saved_trees(workdir)
    assert 'user_table' in saved and 'edge_' not in saved


def test_sigterm_at_an_epochs_last_step_keeps_its_validation(tmp_path, monkeypatch):
  """The epoch's validation and checkpoint come before the stop, so the resumed run's history
  has every epoch."""
  pairs_path = str(tmp_path / 'toy_pairs.tsv')
  helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  workdir = str(tmp_path / 'run')
  restore = preempt_after(monkeypatch, 6)  # the last step of epoch 2, the run's last
  with pytest.raises(Preempted, match='at step 6'):
    loop.train_and_evaluate(_config(pairs_path), workdir)
  restore()
  resumed = loop.train_and_evaluate(_config(pairs_path), workdir)
  assert [h['epoch'] for h in resumed['history']] == [1, 2]


def test_unfinished_checkpoint_is_not_the_latest(one_epoch_run, tmp_path):
  """Orbax renames a checkpoint into place when complete; a crash leaves only a tmp folder."""
  config, workdir = _copy(one_epoch_run, tmp_path)
  checkpoints = workdir / 'checkpoints'
  assert sorted(p for p in os.listdir(checkpoints) if p.isdigit()) == ['3']
  (checkpoints / '6.orbax-checkpoint-tmp-1234').mkdir()  # what a crash mid-save leaves behind
  config.train.epochs = 2
  results = loop.train_and_evaluate(config, str(workdir))
  assert [h['epoch'] for h in results['history']] == [1, 2]  # resumed from step 3, not 6


def test_sigterm_handler_is_only_installed_while_training(one_epoch_run):
  before, after = one_epoch_run[2:]
  assert after is before


@pytest.mark.parametrize('moment', ['setup', 'final evaluation'])
def test_sigterm_outside_the_steps_is_a_preemption_too(tmp_path, monkeypatch, moment):
  """Before training (data, compiling) and in the final evaluation nothing is being saved:
  SIGTERM stops at once with `Preempted` (exit status 75), never a kill by the signal or a
  finished run, and the same command finishes the run."""
  previous = signal.signal(signal.SIGTERM, lambda *_: None)  # without jaxlens', the run goes on
  config = _one_epoch(tmp_path)
  if moment == 'setup':
    target, name = loop, 'build_evaluation'
  else:
    target, name = loop.Evaluation, 'run'
  original = getattr(target, name)

  def terminated(*args, **kwargs):
    if moment == 'setup' or args[2] == 'test':
      os.kill(os.getpid(), signal.SIGTERM)
    return original(*args, **kwargs)

  monkeypatch.setattr(target, name, terminated)
  workdir = str(tmp_path / 'run')
  try:
    with pytest.raises(Preempted, match=f'stopped during the {moment}'):
      loop.train_and_evaluate(config, workdir)
  finally:
    signal.signal(signal.SIGTERM, previous)
  assert not os.path.exists(os.path.join(workdir, 'results.json'))
  monkeypatch.setattr(target, name, original)
  results = loop.train_and_evaluate(config, workdir)
  assert [h['epoch'] for h in results['history']] == [1]


def test_sigterm_while_restoring_is_not_damage(one_epoch_run, tmp_path, monkeypatch):
  """A stop that interrupts the restore of an intact checkpoint moves nothing aside."""
  config, workdir = _copy(one_epoch_run, tmp_path)
  original = checkpoint.Checkpoints._restore  # pylint: disable=protected-access

  def terminated(self, step, state):
    os.kill(os.getpid(), signal.SIGTERM)
    return original(self, step, state)

  monkeypatch.setattr(checkpoint.Checkpoints, '_restore', terminated)
  config.train.epochs = 2
  with pytest.raises(Preempted, match='stopped during the setup'):
    loop.train_and_evaluate(config, str(workdir))
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', 'committed.json']
