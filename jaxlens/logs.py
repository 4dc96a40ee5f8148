"""Where log records go: warnings on the terminal, everything in `WORKDIR/logs/`.

A run's terminal shows its progress bars, one line per evaluation, warnings and the results.
The full INFO log (Orbax's saves and restores, JAX's backend probing, jaxlens' own notes) goes to
`WORKDIR/logs/process_<i>.log`, one file per JAX process (for a workdir in a bucket, to
`$TMPDIR/jaxlens/<bucket>/<path>/logs/` on each host, as log files are appended to). absl's
`--verbosity` or `--alsologtostderr` bring the INFO lines back to the terminal.

Orbax's, asyncio's and gcsfs's own records, and exceptions Python can only report as "ignored"
(TensorStore callbacks into an event loop Orbax has closed after a failed read or write), go to
the log file only: jaxlens reports those failures in one line of its own.
"""

from __future__ import annotations

import logging as std_logging
import os
import sys

from absl import flags, logging

from jaxlens import paths


class _NotFromLibraries(std_logging.Filter):
  """Drops Orbax's records (absl's, told apart by their file), asyncio's and gcsfs's (a failed
  request it retries another way)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.name.split('.')[0] not in ('asyncio', 'gcsfs')
            and f'{os.sep}orbax{os.sep}' not in record.pathname)


def _log_unraisable(unraisable) -> None:
  """To the log file; nothing while Python shuts down (its files are closed by then)."""
  if not sys.is_finalizing():
    logging.info('ignored %s in %r', unraisable.exc_type.__name__, unraisable.object,
                 exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback))


def quiet_terminal() -> None:
  """Terminal output at WARNING and above, libraries' own records and ignored exceptions left to
  the log file, unless the command line asked for more."""
  asked = any(flags.FLAGS[name].present for name in ('verbosity', 'alsologtostderr', 'v'))
  sys.unraisablehook = _log_unraisable
  if not asked:
    handler = logging.get_absl_handler()
    handler.setLevel(std_logging.WARNING)
    handler.addFilter(_NotFromLibraries())


class _LogFile(std_logging.FileHandler):
  """A record that cannot be written (a full disk) is lost, not printed on the terminal with a
  traceback, as `logging` does by default."""

  def handleError(self, record: std_logging.LogRecord) -> None:
    del record


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
  _file_handler = _LogFile(path)
  _file_handler.setLevel(std_logging.INFO)
  _file_handler.setFormatter(logging.PythonFormatter())
  root.addHandler(_file_handler)
  if logging.get_verbosity() < logging.INFO:  # absl: higher is more verbose
    logging.set_verbosity(logging.INFO)
  return path
