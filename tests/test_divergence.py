"""A diverging run stops at the first non-finite loss or gradient norm, with one line, and
leaves the checkpoints written before it intact and selected."""

import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlens.data import synthetic
from jaxlens.errors import Diverged
from jaxlens.train import loop
from jaxlens.train.step import Trainer
from tests import helpers

pytestmark = pytest.mark.slow  # each test trains runs to divergence


def _pairs(tmp_path) -> str:
  path = tmp_path / 'toy_pairs.tsv'
  helpers.write_pairs(path, synthetic.sequential_interactions(users=40))
  return str(path)


def _config(pairs_path, epochs):
  config = helpers.tiny_config()
  config.data.pairs_path = pairs_path
  config.train.epochs = epochs
  return config


def test_divergence_after_a_good_epoch_keeps_its_checkpoint_best(tmp_path, monkeypatch):
  pairs_path = _pairs(tmp_path)
  workdir = tmp_path / 'run'
  good = loop.train_and_evaluate(_config(pairs_path, epochs=1), str(workdir))
  original = Trainer.run_train_step

  def poisoned(self, batch, num_positions):  # the parameters blow up in the second epoch
    self.state.params = jax.tree.map(lambda x: x * jnp.nan, self.state.params)
    return original(self, batch, num_positions)

  monkeypatch.setattr(Trainer, 'run_train_step', poisoned)
  with pytest.raises(Diverged, match=r'loss became nan at step 4 \(epoch 2\); last good '
                                     rf'checkpoint: {workdir}/checkpoints/3$'):
    loop.train_and_evaluate(_config(pairs_path, epochs=2), str(workdir))
  assert sorted(p for p in os.listdir(workdir / 'checkpoints') if p.isdigit()) == ['3']
  monkeypatch.setattr(Trainer, 'run_train_step', original)
  again = loop.train_and_evaluate(_config(pairs_path, epochs=1), str(workdir))  # nothing to train
  assert again['best_epoch'] == 1
  for name, value in good['test'].items():
    np.testing.assert_allclose(again['test'][name], value, atol=1e-7)


def test_absurd_learning_rate_stops_with_one_line_and_exit_status_1(tmp_path):
  """The command line end to end: the first non-finite loss is one `error:` line, exit status 1,
  no results and no checkpoint, the config as it ran kept beside them."""
  workdir = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, '-m', 'jaxlens.main', '--config', 'configs/sasrec_id.py:cpu', '--workdir',
       str(workdir), f'--config.data.pairs_path={_pairs(tmp_path)}',
       '--config.optim.lr=1e6', '--config.train.batch_size=16', '--config.eval.batch_size=16',
       '--config.data.max_seq_len=6'],
      cwd=helpers.REPO, env=dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu'),
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 1, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and re.fullmatch(
      r'error: loss became nan at step \d+ \(epoch 1\); last good checkpoint: none \(nothing was '
      r'saved\)', errors[0]), errors
  assert not (workdir / 'results.json').exists()
  assert not [p for p in os.listdir(workdir / 'checkpoints') if p.isdigit()]
  assert 'config (resolved):' in result.stdout and '  optim.lr = 1000000.0' in result.stdout
  with open(workdir / 'config.json') as f:
    assert json.load(f)['optim']['lr'] == 1e6
