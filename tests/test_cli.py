"""The command line: bad input is one `error:` line and exit status 2, never a traceback."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(tmp_path, *overrides, config='configs/sasrec_id.py:cpu'):
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  return subprocess.run(
      [sys.executable, '-m', 'jaxlens.main', '--config', config,
       '--workdir', str(tmp_path / 'run'), *overrides],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _pairs(tmp_path, text, name='bad_pairs.tsv'):
  path = tmp_path / name
  path.write_text(text)
  return f'--config.data.pairs_path={path}'


@pytest.mark.parametrize('text, message', [
    ('u1\t1 2 3 4 5\nu2;1 2 3\n', 'bad_pairs.tsv:2: expected "user<TAB>item item ...'),
    ('u1\t1 2 three 4 5\n', "bad_pairs.tsv:1: item 'three' is not an integer id"),
    ('', 'bad_pairs.tsv: the file holds no interactions'),
])
def test_bad_pairs_file(tmp_path, text, message):
  result = _run(tmp_path, _pairs(tmp_path, text))
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert f'error: {tmp_path}/{message}' in result.stderr
  assert not (tmp_path / 'run').exists()  # inputs are checked before the workdir is made


def test_missing_pairs_file(tmp_path):
  result = _run(tmp_path, f'--config.data.pairs_path={tmp_path}/absent.tsv')
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  assert f'error: {tmp_path}/absent.tsv: no such pairs file' in result.stderr


@pytest.mark.parametrize('override, key', [('--config.model.hiden=64', 'hiden'),
                                           ('--config.modle.hidden=3', 'modle')])
def test_unknown_config_key(tmp_path, override, key):
  result = _run(tmp_path, override)
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  assert f"error: config has no key '{key}'" in result.stderr
  assert not (tmp_path / 'run').exists()


def test_bad_config_value(tmp_path):
  result = _run(tmp_path, _pairs(tmp_path, 'u\t1 2 3 4 5\n', 'ok_pairs.tsv'),
                '--config.model.user_tower=bert4rec')
  assert result.returncode == 2
  assert "error: unknown user tower 'bert4rec' (config.model.user_tower)" in result.stderr
  assert not (tmp_path / 'run').exists()


def test_paper_config_without_data_says_how_to_build_it(tmp_path):
  result = _run(tmp_path, f'--config.data.dir={tmp_path}/tfds',
                '--config.model.encoder.init_from=random', config='configs/sasrec_v.py')
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  assert 'python -m jaxlens.data.build microlens --config=100k' in result.stderr
  assert 'configs/sasrec_v.py:toy' in result.stderr
