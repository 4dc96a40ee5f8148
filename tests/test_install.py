"""A real install: the wheel, in a fresh venv, run from a folder outside the checkout.

The venv gets jaxlens from the wheel alone; its dependencies come from the test venv's
site-packages (a `.pth` line), and the build backend is the test venv's setuptools: nothing is
downloaded.
"""

import os
import site
import subprocess
import sys

import pytest

from tests import helpers

pytestmark = pytest.mark.slow


def _run(argv, cwd, **kwargs):
  """Without the caller's PYTHONPATH: a checkout on it (with the `.egg-info` a wheel build leaves
  there) would make pip take jaxlens for installed already."""
  kwargs.setdefault('env', dict(os.environ, PYTHONPATH=''))
  return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900, **kwargs)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
  """(the venv's `jaxlens` command, a working folder outside the checkout)."""
  root = tmp_path_factory.mktemp('install')
  built = _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                '-w', str(root / 'dist'), helpers.REPO], cwd=root)
  assert built.returncode == 0, built.stderr[-3000:]
  wheels = os.listdir(root / 'dist')
  assert len(wheels) == 1 and wheels[0].startswith('jaxlens_microlens-'), wheels
  venv = root / 'venv'
  made = _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], cwd=root)
  assert made.returncode == 0, made.stderr
  python = venv / 'bin' / 'python'
  purelib = _run([str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                 cwd=root).stdout.strip()
  with open(os.path.join(purelib, 'dependencies.pth'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(site.getsitepackages()) + '\n')
  done = _run([sys.executable, '-m', 'pip', '--python', str(python), 'install', '--no-deps', '-q',
               str(root / 'dist' / wheels[0])], cwd=root)
  assert done.returncode == 0, done.stderr[-3000:]
  work = root / 'elsewhere'
  work.mkdir()
  return str(venv / 'bin' / 'jaxlens'), work


def test_the_wheel_ships_the_configs_and_runs_a_toy_config_by_name(installed):
  jaxlens, work = installed
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu', PYTHONPATH='')
  where = _run([os.path.join(os.path.dirname(jaxlens), 'python'), '-c',
                'import jaxlens; print(jaxlens.__file__)'], cwd=work, env=env)
  assert where.returncode == 0 and not where.stdout.startswith(helpers.REPO), where.stdout
  result = _run([jaxlens, 'train', '--config', 'youtube_id:toy', '--workdir', 'run',
                 '--config.data.dir=tfds', '--config.train.epochs=1'], cwd=work, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert (work / 'run' / 'results.json').exists()
  assert 'test HR@10=' in result.stdout
  sweep = _run([jaxlens, 'sweep', 'table6:toy', '--root', 'sweep', '--print_commands',
                '--only', 'tiny_c3d-FT'], cwd=work, env=env)
  assert sweep.returncode == 0, sweep.stderr
  assert sweep.stdout.startswith('jaxlens train --config sasrec_v:toy --workdir sweep/tiny_c3d-FT')
