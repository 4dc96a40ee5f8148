"""What a whole test session shares: made once, by the first pytest-xdist worker to ask for it,
in a folder all of the session's workers see; the workers that ask meanwhile wait for it."""

import fcntl
import os
import pathlib
from typing import Callable


def session_root(tmp_path_factory) -> pathlib.Path:
  """The session's temporary folder: above the workers' own ones under pytest-xdist."""
  root = tmp_path_factory.getbasetemp()
  return root.parent if os.environ.get('PYTEST_XDIST_WORKER') else root


def once(root: pathlib.Path, name: str, make: Callable[[pathlib.Path], None]) -> pathlib.Path:
  """`root / name`, made by `make(root / name)` unless an earlier call made it."""
  root.mkdir(parents=True, exist_ok=True)
  folder, made = root / name, root / f'{name}.made'
  with open(root / f'{name}.lock', 'w', encoding='utf-8') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
    if not made.exists():
      make(folder)
      made.touch()
  return folder
