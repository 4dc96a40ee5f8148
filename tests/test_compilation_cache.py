"""The tests' shared compilation cache: unbounded while tests run, trimmed between sessions."""

import os
import time

import jax

from tests import conftest


def test_the_cache_has_no_bound_while_tests_run():
  """A bound makes JAX rescan the whole folder at every write: with the thousands of entries
  one test session writes, that was a third of the suite's time."""
  assert jax.config.jax_compilation_cache_dir == os.environ['JAX_COMPILATION_CACHE_DIR']
  assert jax.config.jax_compilation_cache_max_size == -1


def test_trimming_removes_the_oldest_entries_first(tmp_path):
  now = time.time()
  for age, name in enumerate(['newest', 'middle', 'oldest']):
    path = tmp_path / name
    path.write_bytes(b'x' * 100)
    os.utime(path, (now - age, now - age))
  conftest.trim_cache(str(tmp_path), 250)
  assert sorted(os.listdir(tmp_path)) == ['middle', 'newest']
  conftest.trim_cache(str(tmp_path), 250)
  assert sorted(os.listdir(tmp_path)) == ['middle', 'newest']
