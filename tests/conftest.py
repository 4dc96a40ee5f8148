"""Test set-up: a simulated 8-device CPU mesh, absl flags parsed for Grain, real-data fixture.

Tests compile with most of XLA's optimizations off (for the test process and the commands it
starts): a test's programs are tiny, so compiling them dominates, and unoptimized they compute
the same values to float rounding. Benchmarks compile as a user's run does, and so do tests
marked `optimized`, whose time goes to running their programs (the GRU4Rec recipe's 8 epochs
took 91 CPU-seconds unoptimized, 37 optimized). Because compiling dominates, every test
process (pytest-xdist workers and the `jaxlens` commands tests start) shares one persistent
compilation cache, `JAXLENS_TEST_CACHE` (default `.cache/jax-tests` in the checkout): tests
build the same tiny models again and again, and a hit skips XLA altogether. The cache has no
size bound while tests run (JAX's bound rescans the whole folder at every write, which made the
suite quadratic in its size); a session starts by trimming it instead.
"""

import os

# Must precede the first JAX import anywhere in the test session.
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', 'true')
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', os.environ.get('JAXLENS_TEST_CACHE') or
                      os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                   '.cache', 'jax-tests'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.FLAGS.mark_as_parsed()  # Grain's worker processes read absl flags.

CACHE_BOUND_BYTES = 2**30


def trim_cache(folder: str, bound_bytes: int) -> None:
  """Removes the oldest entries of `folder` until it holds at most `bound_bytes`."""
  entries = sorted(os.scandir(folder), key=lambda entry: entry.stat().st_mtime)
  size = sum(entry.stat().st_size for entry in entries)
  for entry in entries:
    if size <= bound_bytes:
      return
    size -= entry.stat().st_size
    os.remove(entry.path)


def pytest_sessionstart(session):
  """Trims the compilation cache once, in the process that starts the workers."""
  del session
  folder = os.environ['JAX_COMPILATION_CACHE_DIR']
  if not os.environ.get('PYTEST_XDIST_WORKER') and os.path.isdir(folder):
    trim_cache(folder, CACHE_BOUND_BYTES)


@pytest.fixture(autouse=True)
def optimized_compiles(request, monkeypatch):
  """XLA's optimizations on for a test marked `optimized`, and for the commands it starts."""
  if request.node.get_closest_marker('optimized') is None:
    yield
    return
  import jax  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv('JAX_DISABLE_MOST_OPTIMIZATIONS', 'false')
  saved = jax.config.read('jax_disable_most_optimizations')
  jax.config.update('jax_disable_most_optimizations', False)
  yield
  jax.config.update('jax_disable_most_optimizations', saved)


@pytest.fixture(scope='session')
def microlens_data_dir() -> str:
  """The folder of real MicroLens files, `MICROLENS_DATA_DIR`; skips when unset."""
  path = os.environ.get('MICROLENS_DATA_DIR')
  if not path:
    pytest.skip('MICROLENS_DATA_DIR is unset: the real MicroLens files are not available')
  if not os.path.isdir(path):
    pytest.fail(f'MICROLENS_DATA_DIR={path} is not a folder')
  return path


@pytest.fixture(scope='session')
def toy_data_dir(tmp_path_factory) -> str:
  """A TFDS data dir holding the built `microlens/toy` subset, built once per session. Tests
  only read it."""
  from jaxlens.builders import subset  # pylint: disable=g-import-not-at-top
  from tests import session_shared  # pylint: disable=g-import-not-at-top
  return str(session_shared.once(session_shared.session_root(tmp_path_factory), 'toy_tfds',
                                 lambda folder: subset.ensure_built('microlens/toy', str(folder))))


@pytest.fixture(scope='module')
def restoring_once():
  """The serving commands of a test file restore each run once (`tests.serving_runs`)."""
  from tests import serving_runs  # pylint: disable=g-import-not-at-top
  with serving_runs.restoring_once():
    yield


@pytest.fixture(scope='session')
def toy_run(tmp_path_factory, toy_data_dir):
  """The tiny toy SASRec_V run the serving tests share (`tests.serving_runs`), trained once per
  session."""
  from tests import serving_runs  # pylint: disable=g-import-not-at-top
  from tests import session_shared  # pylint: disable=g-import-not-at-top
  workdir = session_shared.once(session_shared.session_root(tmp_path_factory), 'toy_run',
                                lambda folder: serving_runs.train_toy_run(toy_data_dir, folder))
  return serving_runs.ToyRun(str(workdir), toy_data_dir)
