"""Chaos on a finished run's checkpoints: a file of each kind of its latest step damaged in each
way, and the whole step deleted or half moved away, resumes from the previous step with one
warning line and the damaged folder moved aside; damage to every step is one error line naming
them; a checkpoint of another model is still a config error. One finished run is shared; each
case damages a copy of its checkpoints and restores it as a resumed run does (`restore_latest`),
and the slow cases resume through the command line and compare final metrics. Every file of the
step in each way, each resumed through a whole run: `python -m benchmarks.checkpoint_chaos`."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from benchmarks import checkpoint_chaos as chaos
from jaxlens.data import synthetic
from jaxlens.errors import JaxlensError
from jaxlens.train import loop
from jaxlens.train.checkpoint import Checkpoints
from tests import helpers

pytestmark = pytest.mark.slow  # one trained run, damaged many ways


def _leaves(state) -> list[np.ndarray]:
  return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                     else x) for x in jax.tree.leaves(state.checkpointed())]


class Finished:
  """A finished 2-epoch run (steps 3 and 6), the state and run state of each step."""

  def __init__(self, root):
    self.pairs_path = str(root / 'toy_pairs.tsv')
    helpers.write_pairs(self.pairs_path, synthetic.sequential_interactions(users=40))
    self.config = helpers.tiny_config()
    self.config.data.pairs_path = self.pairs_path
    self.workdir = root / 'run'
    self.results = loop.train_and_evaluate(self.config, str(self.workdir))
    self.target = helpers.train_state(self.config)
    self.steps = {}
    for step in (3, 6):
      only = root / f'only_{step}'
      shutil.copytree(self.workdir / 'checkpoints' / str(step), only / 'checkpoints' / str(step))
      state, run = Checkpoints(str(only)).restore_latest(self.target)
      self.steps[step] = (_leaves(state), run)

  def copy(self, tmp_path):
    workdir = tmp_path / 'run'
    shutil.copytree(self.workdir / 'checkpoints', workdir / 'checkpoints')
    return workdir


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  return Finished(tmp_path_factory.mktemp('finished'))


def _warnings(caplog) -> list[str]:
  """The warning lines a terminal shows (Orbax's own records stay in the log file)."""
  return [r.getMessage() for r in caplog.records
          if r.levelno >= logging.WARNING and f'{os.sep}orbax{os.sep}' not in r.pathname]


def _resume(finished, workdir, caplog):
  caplog.clear()
  with caplog.at_level(logging.INFO):
    state, run = Checkpoints(str(workdir)).restore_latest(finished.target)
  return int(state.step), _leaves(state), run, _warnings(caplog)


def _assert_fell_back(finished, workdir, caplog, moved=('6.damaged',), what=''):
  step, leaves, run, warnings = _resume(finished, workdir, caplog)
  want_leaves, want_run = finished.steps[3]
  assert step == 3, what
  assert all(np.array_equal(a, b) for a, b in zip(leaves, want_leaves)), what
  assert run == want_run, what
  assert len(warnings) == 1, (what, warnings)
  assert re.search(rf'checkpoint {workdir}/checkpoints/6 is .*; resumed from step 3$',
                   warnings[0]), (what, warnings[0])
  assert sorted(os.listdir(workdir / 'checkpoints')) == sorted(
      ['3', 'committed.json', *moved]), what


@pytest.mark.parametrize('kind', chaos.DAMAGES)
def test_damage_to_each_kind_of_file_falls_back_to_the_previous_step(finished, tmp_path, caplog,
                                                                     kind):
  step_folder = str(finished.workdir / 'checkpoints' / '6')
  for name in chaos.one_of_each_kind(chaos.files(step_folder)):
    workdir = finished.copy(tmp_path / f'{kind}-{name}'.replace('/', '_'))
    chaos.damage(str(workdir / 'checkpoints' / '6' / name), kind)
    if chaos.file_kind(name) == 'step commit marker' and kind != 'deleted':
      # Its text is never read (Orbax commits by its presence): the step is intact.
      step, leaves, _, warnings = _resume(finished, workdir, caplog)
      assert step == 6 and warnings == [], (kind, name)
      assert all(np.array_equal(a, b) for a, b in zip(leaves, finished.steps[6][0]))
    else:
      _assert_fell_back(finished, workdir, caplog, what=f'{kind} {name}')


@pytest.mark.parametrize('kind', chaos.STEP_DAMAGES)
def test_damage_to_the_whole_step_falls_back_to_the_previous_step(finished, tmp_path, caplog,
                                                                  kind):
  workdir = finished.copy(tmp_path)
  chaos.damage_step(str(workdir / 'checkpoints' / '6'), kind)
  # Deleted: nothing to move, `committed.json` tells it was there. Half moved: the half left
  # is moved aside beside the half that was.
  moved = () if kind == 'step deleted' else ('6.damaged', '6.damaged1')
  _assert_fell_back(finished, workdir, caplog, moved=moved, what=kind)


def test_damage_to_every_step_is_one_line_naming_them(finished, tmp_path):
  workdir = finished.copy(tmp_path)
  for step in ('3', '6'):
    chaos.damage(str(workdir / 'checkpoints' / step / 'state' / '_METADATA'), 'bytes flipped')
  with pytest.raises(JaxlensError) as error:
    Checkpoints(str(workdir)).restore_latest(finished.target)
  message = str(error.value)
  assert message.startswith(f'no intact checkpoint in {workdir}/checkpoints: ')
  for step in ('3', '6'):
    assert f'{workdir}/checkpoints/{step}: state/_METADATA fails its checksum' in message
  assert '\n' not in message
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', '6', 'committed.json']


def test_a_checkpoint_of_another_model_is_a_config_error_naming_only_real_differences(
    finished, tmp_path):
  """PRNG keys are stored as their key data (shape (2,) for a key of shape ()): they are not a
  difference, so damage is never taken for another model."""
  workdir = finished.copy(tmp_path)
  wider = helpers.tiny_config()
  wider.data.pairs_path = finished.pairs_path
  wider.model.hidden = 32
  with pytest.raises(JaxlensError) as error:
    Checkpoints(str(workdir)).restore_latest(helpers.train_state(wider))
  message = str(error.value)
  assert message.startswith(f'{workdir}/checkpoints/6 holds a model of other shapes than the '
                            'config builds (')
  assert '16) -> (' in message and 'rngs' not in message and '\n' not in message
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', '6', 'committed.json']


def test_the_issues_drill_resumes_from_the_previous_step_in_one_line(finished, tmp_path):
  """Every 97th byte of the largest per-process OCDBT file of the latest step flipped, then the
  same command: exit 0, one warning line and no traceback on the terminal, the final metrics of
  the undamaged run (step 3 retrained is step 6 again)."""
  workdir = tmp_path / 'run'
  shutil.copytree(finished.workdir, workdir)
  os.remove(workdir / 'results.json')
  data = workdir / 'checkpoints' / '6' / 'state' / 'ocdbt.process_0' / 'd'
  chaos.damage(str(max(data.iterdir(), key=lambda p: p.stat().st_size)), 'bytes flipped')
  overrides = [f'--config.{k}={v}' for k, v in (
      ('data.pairs_path', finished.pairs_path), ('data.max_seq_len', 6), ('model.hidden', 16),
      ('train.batch_size', 16), ('train.epochs', 2), ('eval.batch_size', 16), ('optim.lr', 0.01))]
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  done = subprocess.run([sys.executable, '-m', 'jaxlens.main', '--config', 'configs/sasrec_id.py',
                         '--workdir', str(workdir), *overrides], cwd=helpers.REPO, env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600,
                        check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  logged = [line for line in re.split(r'[\r\n]', done.stderr) if re.match(r'[WEF]\d{4} ', line)]
  assert len(logged) == 1 and 'checkpoints/6 is damaged (state/ocdbt.process_0/d/' in logged[0], \
      logged
  assert logged[0].endswith('resumed from step 3') and 'Traceback' not in done.stderr
  with open(workdir / 'results.json') as f:
    resumed = json.load(f)
  wanted = [finished.results[split] for split in ('valid', 'test')] + [
      h['valid'] for h in finished.results['history']]
  got = [resumed[split] for split in ('valid', 'test')] + [h['valid'] for h in resumed['history']]
  assert len(got) == len(wanted)
  for a, b in zip(got, wanted):
    for name, value in b.items():
      np.testing.assert_allclose(a[name], value, atol=1e-6, err_msg=name)
