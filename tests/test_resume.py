"""Preemption and resume: N steps straight equal N/2 steps, SIGTERM, and a resumed run."""

import json
import os
import signal

import numpy as np
import pytest

from jaxlens.data import synthetic
from jaxlens.data import interactions as interactions_lib
from jaxlens.data import pairs
from jaxlens.data.clips import ClipStore
from jaxlens.train import loop
from jaxlens.train.step import Trainer
from tests import helpers


def _write_pairs(path, data):
  with open(path, 'w') as f:
    for user, row in zip(data.users, data.sequences):
      f.write(f'{user}\t{" ".join(str(i) for i in row[row != 0])}\n')


def _config(pairs_path, tower='id'):
  config = helpers.tiny_config('in_batch') if tower == 'id' else helpers.tiny_video_config()
  config.data.pairs_path = pairs_path
  return config


@pytest.mark.parametrize('tower', ['id', 'video'])
def test_sigterm_then_resume_equals_straight_run(tmp_path, monkeypatch, tower):
  monkeypatch.setattr(interactions_lib, 'clip_store', lambda data_config, data: ClipStore(
      synthetic.RandomFrames(data_config.num_frames, data_config.frame_size), data.original_item_ids,
      in_memory=True))
  pairs_path = str(tmp_path / 'toy_pairs.tsv')
  _write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  assert len(pairs.read_pairs(pairs_path)) == 40

  straight = loop.train_and_evaluate(_config(pairs_path, tower), str(tmp_path / 'straight'))

  original = Trainer.run_train_step
  calls = {'n': 0}

  def preempted_after_four_steps(self, batch, num_positions):
    metrics = original(self, batch, num_positions)
    calls['n'] += 1
    if calls['n'] == 4:  # mid-way through epoch 2 (3 steps per epoch)
      os.kill(os.getpid(), signal.SIGTERM)
    return metrics

  workdir = str(tmp_path / 'preempted')
  monkeypatch.setattr(Trainer, 'run_train_step', preempted_after_four_steps)
  assert loop.train_and_evaluate(_config(pairs_path, tower), workdir) == {}
  assert not os.path.exists(os.path.join(workdir, 'results.json'))
  monkeypatch.setattr(Trainer, 'run_train_step', original)
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
  assert set(written) == {'valid', 'test', 'test_cold', 'best_epoch', 'epoch_seconds',
                          'train_sequences_per_second', 'eval_seconds', 'history'}
  assert set(written['test']) == {'HR@10', 'NDCG@10', 'HR@20', 'NDCG@20'}


def test_unfinished_checkpoint_is_not_the_latest(tmp_path):
  """Orbax renames a checkpoint into place when complete; a crash leaves only a tmp folder."""
  pairs_path = str(tmp_path / 'toy_pairs.tsv')
  _write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  config = _config(pairs_path)
  config.train.epochs = 1
  workdir = tmp_path / 'run'
  loop.train_and_evaluate(config, str(workdir))
  latest = workdir / 'checkpoints' / 'latest'
  assert sorted(os.listdir(latest)) == ['3']
  (latest / '6.orbax-checkpoint-tmp-1234').mkdir()  # what a crash mid-save leaves behind
  config.train.epochs = 2
  results = loop.train_and_evaluate(config, str(workdir))
  assert [h['epoch'] for h in results['history']] == [1, 2]  # resumed from step 3, not 6
