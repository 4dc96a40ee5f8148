"""What the test session shares (the built toy subset, the serving tests' run) is made once,
whichever pytest-xdist workers ask for it."""

import concurrent.futures
import threading
import time

import pytest

from tests import session_shared


def test_workers_asking_at_once_share_one_making(tmp_path):
  """The first caller makes it; the other, arriving meanwhile, waits and gets the same folder
  (threads here: each opens the lock file itself, as a worker process does)."""
  made, first_started = [], threading.Event()

  def make(folder):
    made.append(folder)
    first_started.set()
    time.sleep(0.5)  # the other caller arrives while this one makes it
    folder.mkdir()
    (folder / 'results.json').write_text('{}')

  def ask(second: bool):
    if second:
      first_started.wait(5)
    return session_shared.once(tmp_path, 'toy_run', make)

  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    folders = list(pool.map(ask, [False, True]))
  assert made == [tmp_path / 'toy_run'] and folders == made * 2
  assert (tmp_path / 'toy_run' / 'results.json').exists()
  assert session_shared.once(tmp_path, 'toy_run', make) == made[0] and len(made) == 1


def test_a_failed_making_is_tried_again(tmp_path):
  def fail(folder):
    raise OSError(f'no space for {folder}')

  with pytest.raises(OSError, match='no space'):
    session_shared.once(tmp_path, 'data', fail)
  made = session_shared.once(tmp_path, 'data', lambda folder: folder.mkdir())
  assert made.is_dir()
