"""The command line: bad input is one `error:` line and exit status 2, never a traceback."""

import os
import subprocess
import sys

import pytest

from jaxlens import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(tmp_path, *overrides, config='sasrec_id:cpu'):
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  return subprocess.run(
      [sys.executable, '-m', 'jaxlens.main', '--config', config,
       '--workdir', str(tmp_path / 'run'), *overrides],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _pairs(tmp_path, text, name='bad_pairs.tsv'):
  path = tmp_path / name
  path.write_text(text)
  return f'--config.data.pairs_path={path}'


def test_bad_pairs_file(tmp_path):
  """Every way a pairs file can be wrong is a `JaxlensError` naming the file and line
  (tests/test_pairs.py); one of them shows how the command reports it."""
  result = _run(tmp_path, _pairs(tmp_path, 'u1\t1 2 3 4 5\nu2;1 2 3\n'))
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert f'error: {tmp_path}/bad_pairs.tsv:2: expected "user<TAB>item item ...' in result.stderr
  assert not (tmp_path / 'run').exists()  # inputs are checked before the workdir is made


def test_unknown_config_key(tmp_path):
  """A misspelt section (a misspelt key goes through a sweep's command line in
  tests/test_sweep.py)."""
  result = _run(tmp_path, '--config.modle.hidden=3')
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  assert "error: config has no key 'modle'" in result.stderr
  assert not (tmp_path / 'run').exists()


def test_paper_config_without_data_says_how_to_build_it(tmp_path):
  result = _run(tmp_path, f'--config.data.dir={tmp_path}/tfds',
                '--config.model.encoder.init_from=random', config='configs/sasrec_v.py')
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  assert 'jaxlens build microlens --config=100k' in result.stderr
  assert '--config sasrec_v:toy' in result.stderr


def _jaxlens(*args):
  """The installed `jaxlens` command, as its entry point runs it."""
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-c', 'from jaxlens import cli; cli.main()', *args],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_jaxlens_lists_its_commands_and_each_shows_its_own_flags():
  listing = _jaxlens('--help')
  assert listing.returncode == 0
  for verb in cli.VERBS:
    assert f'  {verb} ' in listing.stdout
  assert '75  stopped by SIGTERM' in listing.stdout
  train = _jaxlens('train', '--help')
  assert train.returncode == 0, train.stderr
  assert '--workdir' in train.stdout and '--config' in train.stdout
  assert '--coordinator_address' in train.stdout and '--users' not in train.stdout
  aot = _jaxlens('aot', '--help')
  assert aot.returncode == 0 and '--distinct_clips' in aot.stdout and '--workdir' not in aot.stdout
  for verb in ('build', 'convert', 'extract', 'sweep', 'report', 'synthetic'):
    shown = _jaxlens(verb, '--help')
    assert shown.returncode == 0 and shown.stdout.startswith(f'usage: jaxlens {verb}'), verb


@pytest.mark.parametrize('args, message', [
    (('fly',), "error: unknown command 'fly'; known: train, build"),
    ((), 'usage: jaxlens <command>'),
    (('build', 'microlens'), 'error: the following arguments are required: --config '
                             '(see jaxlens build microlens --help)'),
    (('sweep', 'nope', '--root', 'x'), "error: no sweep named 'nope'"),
    (('train', '--config', 'nope', '--workdir', 'x'), "error: no config named 'nope'"),
    (('train', '--config', 'sasrec_id:cpu', '--workdir', 'x', '--config.model.num_blocks=3'),
     'error: config.model.num_blocks is now per part: config.model.gru4rec.layers, '),
])
def test_bad_command_lines_are_one_line_and_status_2(args, message):
  result = _jaxlens(*args)
  assert result.returncode == 2, result.stderr
  output = (result.stdout + result.stderr).strip()
  assert message in output and 'Traceback' not in output, output
  if args:
    assert output.count('\n') == 0, output


def test_python_m_forms_still_run():
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  for module in ('jaxlens.main', 'jaxlens.data.build', 'jaxlens.builders', 'jaxlens.sweep'):
    result = subprocess.run([sys.executable, '-m', module, '--help'], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and 'jaxlens' in result.stdout, (module, result.stderr)
