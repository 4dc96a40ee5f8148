"""Sweeps: expansion of the study files, commands, skip / resume / failure bookkeeping, signals,
one-line errors, and one real two-cell sweep through `jaxlens.main`."""

import json
import os
import signal
import sys

import numpy as np
import pytest

import jaxlens.models.video  # pylint: disable=unused-import  # registers encoders
from jaxlens.models.video import registry
from jaxlens.report import __main__ as report_cli
from jaxlens.sweep import __main__ as sweep_cli
from jaxlens.sweep import runner, spec
from jaxlens.sweep.state import SweepRecord

pytestmark = pytest.mark.slow  # runs sweeps through the command line

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
  monkeypatch.chdir(REPO)  # sweep files name configs relative to the repository


def _sweep_json(root) -> dict:
  with open(os.path.join(root, 'sweep.json')) as f:
    return json.load(f)


def _states(root) -> dict:
  return {cell['name']: cell['state'] for cell in _sweep_json(root)['cells']}


def test_study_files_expand():
  table6 = spec.expand(spec.load('table6'), 'runs/t6')
  assert len(table6) == 45 and table6[0].name == 'r3d_18-frozen'
  assert table6[0].command == (
      'jaxlens train --config sasrec_v --workdir runs/t6/r3d_18-frozen '
      '--config.train.batch_size=-1 --config.model.encoder.name=r3d_18 '
      '--config.model.encoder.train_mode=frozen --config.model.encoder.init_from=weights/r3d_18')
  toy = spec.expand(spec.load('table6:toy'), 'runs/t6_toy')
  assert [job.name for job in toy][:3] == ['tiny_c3d-frozen', 'tiny_c3d-topT', 'tiny_c3d-FT']
  for job in toy:
    assert job.config == 'sasrec_v:toy'
    assert job.overrides['model.encoder.init_from'] == 'random'
    size = job.overrides.get('data.frame_size', 32)  # the toy's, or the cell's own (R3D-r18)
    assert all(need <= have for need, have in zip(
        registry.get(job.overrides['model.encoder.name']).min_input, (4, size, size)))
  table8 = spec.expand(spec.load('configs/sweeps/table8.py'), 'runs/t8')
  assert [(job.name, job.config) for job in table8][::4] == [
      ('sasrec_id-warm0', 'sasrec_id'), ('sasrec_v-warm0', 'sasrec_v')]
  assert [job.overrides['data.min_item_interactions'] for job in table8] == [0, 20, 50, 200] * 2
  fig5 = spec.expand(spec.load('configs/sweeps/fig5.py'), 'runs/fig5')  # by path
  assert len(fig5) == 18 and {job.overrides.get('model.encoder.mlp_layers') for job in fig5} == {
      None, 0, 1, 2, 3}
  assert spec.study_name('configs/sweeps/table6.py:toy') == 'table6'


def test_table8_50k_reads_the_data_dir(monkeypatch, capsys):
  monkeypatch.setenv('MICROLENS_DATA_DIR', '/data')
  jobs = spec.expand(spec.load('configs/sweeps/table8.py:50k'), 'runs/t8')
  assert {job.overrides['data.pairs_path'] for job in jobs} == {
      '/data/microlens-50k/MicroLens-50k_pairs.tsv'}
  monkeypatch.delenv('MICROLENS_DATA_DIR')
  assert sweep_cli.main(['configs/sweeps/table8.py:50k', '--root', 'unused']) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: configs/sweeps/table8.py:50k: MICROLENS_DATA_DIR is unset')


def test_print_commands_runs_nothing_but_records_the_cells(tmp_path, capsys):
  root = tmp_path / 'table6'
  code = sweep_cli.main(['configs/sweeps/table6.py:toy', '--root', str(root), '--print_commands',
                         '--only', 'x3d_xs-FT,r3d_18-topT'])
  assert code == 0
  printed = capsys.readouterr().out.splitlines()
  assert printed == [
      f'jaxlens train --config sasrec_v:toy --workdir {root}/{name} '
      f'--config.train.epochs=3 --config.model.encoder.name={name.split("-")[0]} '
      f'--config.model.encoder.train_mode={name.split("-")[1]} '
      f'--config.model.encoder.init_from=random{more}'
      for name, more in (('x3d_xs-FT', ''), ('r3d_18-topT', ' --config.data.frame_size=16'))]
  assert os.listdir(root) == ['sweep.json']
  record = _sweep_json(root)
  assert record['study'] == 'table6' and len(record['cells']) == 9
  assert set(_states(root).values()) == {'pending'}


def _write_sweep_file(tmp_path, body: str) -> str:
  path = tmp_path / 'my_sweep.py'
  path.write_text('from jaxlens.sweep import Cell, Sweep\n' + body)
  return str(path)


@pytest.mark.parametrize('body, message', [
    ('def get_sweep(arg=None):\n  return 3\n', 'get_sweep must return a jaxlens.sweep.Sweep'),
    ('def get_sweep(arg=None)\n', 'SyntaxError: '),
    ('def get_sweep(arg=None):\n  return Sweep("configs/sasrec_id.py", [Cell("a"), Cell("a")])\n',
     "cell 'a' appears twice"),
    ('def get_sweep(arg=None):\n  return Sweep("configs/nope.py", [Cell("a")])\n',
     'config file configs/nope.py does not exist'),
    ('def get_sweep(arg=None):\n  return Sweep("nope", [Cell("a")])\n',
     "no config named 'nope': give a .py file, or one of deepfm, dssm, "),
    ('def get_sweep(arg=None):\n  return Sweep("configs/sasrec_id.py", [Cell("a/b")])\n',
     'a cell name is a folder name'),
    ('def get_sweep(arg=None):\n  return Sweep("configs/sasrec_id.py", [Cell("a", {"x": [1]})])\n',
     'x=[1] is not a str, bool, int, float or tuple'),
])
def test_bad_sweep_file_is_one_error_line(tmp_path, capsys, body, message):
  path = _write_sweep_file(tmp_path, body)
  assert sweep_cli.main([path, '--root', str(tmp_path / 'root')]) == 2
  err = capsys.readouterr().err
  assert err.startswith(f'error: {path}: ') and message in err and err.count('\n') == 1, err
  assert not os.path.exists(tmp_path / 'root')


def test_unknown_cell_and_missing_file_are_one_error_line(tmp_path, capsys):
  root = str(tmp_path / 'root')
  assert sweep_cli.main(['configs/sweeps/table6.py:toy', '--root', root, '--only', 'nope']) == 2
  assert capsys.readouterr().err.startswith('error: --only names unknown cells nope; known: ')
  assert sweep_cli.main(['configs/sweeps/absent.py', '--root', root]) == 2
  assert capsys.readouterr().err == 'error: sweep file configs/sweeps/absent.py does not exist\n'
  assert sweep_cli.main(['absent', '--root', root]) == 2
  assert capsys.readouterr().err == ("error: no sweep named 'absent': give a .py file, or one of "
                                     'fig5, table6, table8\n')
  assert sweep_cli.main(['configs/sweeps/table6.py:big', '--root', root]) == 2
  assert "unknown sweep argument 'big'" in capsys.readouterr().err
  assert not os.path.exists(root)


class _FakeCells:
  """Stands in for `jaxlens.main`: each cell's exit statuses in turn; 0 writes results.json."""

  def __init__(self, script: dict[str, list[int]]):
    self.script, self.started = script, []

  def __call__(self, argv):
    workdir = argv[argv.index('--workdir') + 1]
    name = os.path.basename(workdir)
    self.started.append(name)
    status = self.script[name].pop(0)
    os.makedirs(os.path.join(workdir, 'checkpoints'), exist_ok=True)
    if status == 0:
      with open(os.path.join(workdir, 'results.json'), 'w') as f:
        json.dump({'test': {'HR@10': 0.1}}, f)
    return _Done(runner.Outcome(status, 'FloatingPointError: loss is nan' if status == 1 else ''))


class _Done:
  def __init__(self, outcome):
    self.outcome = outcome

  def stop(self):
    pass

  def wait(self):
    return self.outcome


def _record(tmp_path, names=('a', 'b', 'c')):
  sweep = spec.Sweep('configs/sasrec_id.py:cpu', [spec.Cell(name) for name in names])
  root = str(tmp_path / 'root')
  return SweepRecord('my_sweep.py', 'my_sweep', root, spec.expand(sweep, root))


def test_skip_finished_resume_unfinished_record_failures(tmp_path, capsys):
  cells = _FakeCells({'a': [0], 'b': [1, 0], 'c': [75, 0]})
  record = _record(tmp_path)
  assert runner.Runner(record, launch=cells).run(record.jobs) == 1
  root = record.root
  assert _states(root) == {'a': 'finished', 'b': 'failed', 'c': 'unfinished'}
  failed = _sweep_json(root)['cells'][1]
  assert failed['exit_status'] == 1 and failed['error'] == 'FloatingPointError: loss is nan'
  out = capsys.readouterr().out
  assert 'sweep: [2/3] b: failed (exit status 1) after 0 s: FloatingPointError: loss is nan' in out
  assert 'sweep: 1 finished, 1 unfinished, 1 failed, 0 pending' in out

  record = _record(tmp_path)  # the same command again: a is skipped, b retried, c resumed
  assert runner.Runner(record, launch=cells).run(record.jobs) == 0
  assert cells.started == ['a', 'b', 'c', 'b', 'c']
  assert _states(root) == {'a': 'finished', 'b': 'finished', 'c': 'finished'}
  out = capsys.readouterr().out
  assert '[1/3] a: finished already, skipped' in out and '[3/3] c: resume: jaxlens train' in out


def test_signal_is_forwarded_and_the_sweep_exits_resumable(tmp_path):
  class Preempted:
    """A cell that receives the sweep's SIGTERM mid-run and exits 75 once asked to stop."""
    stopped = False

    def stop(self):
      self.stopped = True

    def wait(self):
      os.kill(os.getpid(), signal.SIGTERM)
      return runner.Outcome(75 if self.stopped else 0)

  launched = []
  record = _record(tmp_path, names=('a', 'b'))
  code = runner.Runner(record, launch=lambda argv: launched.append(Preempted()) or launched[-1]
                       ).run(record.jobs)
  assert code == runner.RESUME_ME and len(launched) == 1 and launched[0].stopped
  assert _states(record.root) == {'a': 'unfinished', 'b': 'pending'}
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_subprocess_keeps_the_last_stderr_line_and_stops():
  cell = runner.Subprocess([sys.executable, '-c', (
      'import sys; sys.stderr.write("epoch 1\\r 50%\\n\\nerror: config has no key \'x\'\\n\\n"); '
      'sys.exit(2)')])
  assert cell.wait() == runner.Outcome(2, "error: config has no key 'x'")
  sleeper = runner.Subprocess([sys.executable, '-c', 'import time; time.sleep(60)'])
  sleeper.stop()
  assert sleeper.wait().exit_status == -signal.SIGTERM


def test_two_cell_sweep_through_main_then_report(tmp_path, monkeypatch, capsys):
  """Real runs: a finished cell, a cell with a bad key that fails; rerun skips the finished one."""
  monkeypatch.setenv('XLA_FLAGS', '')
  rng = np.random.default_rng(0)
  pairs = tmp_path / 'tiny_pairs.tsv'
  pairs.write_text(''.join(f'u{u}\t' + ' '.join(str((start + i) % 25 + 1) for i in range(7)) + '\n'
                           for u, start in enumerate(rng.integers(0, 25, size=40))))
  sweep_file = _write_sweep_file(tmp_path, (
      'def get_sweep(arg=None):\n'
      '  return Sweep("configs/sasrec_id.py:cpu", overrides={\n'
      f'      "data.pairs_path": "{pairs}", "train.epochs": 1, "model.hidden": 16,\n'
      '      "train.batch_size": 16}, cells=[Cell("ok"), Cell("typo", {"model.hiden": 8})])\n'))
  root = str(tmp_path / 'runs' / 'mine')
  assert sweep_cli.main([sweep_file, '--root', root]) == 1
  assert os.path.exists(os.path.join(root, 'ok', 'results.json'))
  cells = _sweep_json(root)['cells']
  assert [cell['state'] for cell in cells] == ['finished', 'failed']
  assert cells[1]['exit_status'] == 2
  assert cells[1]['error'].startswith("error: config has no key 'hiden'")
  assert cells[0]['wall_seconds'] > 0
  capsys.readouterr()

  assert sweep_cli.main([sweep_file, '--root', root]) == 1
  out = capsys.readouterr().out
  assert '[1/2] ok: finished already, skipped' in out and '[2/2] typo: failed' in out

  assert report_cli.main([str(tmp_path / 'runs'), '--out', str(tmp_path / 'report')]) == 0
  report = (tmp_path / 'report' / 'report.md').read_text()
  assert f"| {root}/typo | failed | error: config has no key 'hiden'" in report
  assert f'{root}/ok' in report.split('## All runs')[1]
