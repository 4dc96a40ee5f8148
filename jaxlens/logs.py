"""Where log records go: warnings on the terminal, everything in `WORKDIR/logs/`.

A run's terminal shows its progress bars, one line per evaluation, warnings and the results.
The full INFO log (Orbax's saves and restores, JAX's backend probing, jaxlens' own notes) goes to
`WORKDIR/logs/process_<i>.log`, one file per JAX process (for a workdir in a bucket, to
`$TMPDIR/jaxlens/<bucket>/<path>/logs/` on each host, as log files are appended to). absl's
`--verbosity` or `--alsologtostderr` bring the INFO lines back to the terminal.
"""

from __future__ import annotations

import logging as std_logging
import os

from absl import flags, logging

from jaxlens import paths


def quiet_terminal() -> None:
  """Terminal output at WARNING and above, unless the command line asked for more."""
  asked = any(flags.FLAGS[name].present for name in ('verbosity', 'alsologtostderr', 'v'))
  if not asked:
    logging.get_absl_handler().setLevel(std_logging.WARNING)


_file_handler: std_logging.Handler | None = None  # the current run's log file


def to_file(workdir: str, process_index: int) -> str:
  """Sends INFO and above to this process's log file under `workdir` (replacing the file of an
  earlier run in the same process); returns its path."""
  global _file_handler
  folder = os.fspath(paths.local_companion(workdir, 'logs'))
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, f'process_{process_index}.log')
  root = std_logging.getLogger()
  if _file_handler is not None:
    root.removeHandler(_file_handler)
    _file_handler.close()
  _file_handler = std_logging.FileHandler(path)
  _file_handler.setLevel(std_logging.INFO)
  _file_handler.setFormatter(logging.PythonFormatter())
  root.addHandler(_file_handler)
  if logging.get_verbosity() < logging.INFO:  # absl: higher is more verbose
    logging.set_verbosity(logging.INFO)
  return path
