"""The command line: `jaxlens <verb> ...`, and how every command parses flags and ends.

Each verb is a module with `run()` (its `python -m` form runs the same): `jaxlens train` is
`python -m jaxlens.main`, `jaxlens sweep` is `python -m jaxlens.sweep`, and so on. Every command
ends with one of these exit statuses:

  0   finished
  1   a run diverged (`error: loss became nan ...`), or a sweep cell failed
  2   bad input or configuration: one `error: ...` line, before any long work
  75  stopped by SIGTERM or a preemption notice: run the same command again to resume
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, NoReturn

from jaxlens.errors import PREEMPTED_EXIT_STATUS, Diverged, JaxlensError, Preempted

BAD_INPUT_EXIT_STATUS = 2
FAILED_EXIT_STATUS = 1

# verb: (module whose `run()` is the command, what it does)
VERBS = {
    'train': ('jaxlens.main', 'train and evaluate a config (python -m jaxlens.main)'),
    'build': ('jaxlens.builders.__main__', 'build a dataset as TFDS datasets'),
    'convert': ('jaxlens.convert.__main__', 'convert a PyTorch video-encoder checkpoint'),
    'extract': ('jaxlens.extract.__main__', 'encode every item once into a feature table'),
    'sweep': ('jaxlens.sweep.__main__', "run a study's cells, or print their commands"),
    'report': ('jaxlens.report.__main__', 'tables and figures from runs and sweeps'),
    'aot': ('jaxlens.aot', 'compile a config ahead of time: memory and cost before a launch'),
    'synthetic': ('jaxlens.data.synthetic', 'write a synthetic interactions file of any size'),
    'recommend': ('jaxlens.recommend', "a trained run's top items for users or a history"),
    'export': ('jaxlens.export', 'what a service needs: item table, query function (jax.export)'),
    'embed_items': ('jaxlens.embed_items', 'add items after training: encode their content'),
}


def fail(message: str) -> NoReturn:
  """Bad input: one `error:` line, exit status 2."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(BAD_INPUT_EXIT_STATUS)


def exit_status(command: Callable[[], int | None]) -> int:
  """Runs `command`; its return value (default 0), or the status of how it stopped."""
  try:
    return command() or 0
  except JaxlensError as e:
    print(f'error: {e}', file=sys.stderr)
    return BAD_INPUT_EXIT_STATUS
  except Diverged as e:
    print(f'error: {e}', file=sys.stderr)
    return FAILED_EXIT_STATUS
  except Preempted as e:
    print(f'preempted: {e}', file=sys.stderr)
    return PREEMPTED_EXIT_STATUS


class ArgumentParser(argparse.ArgumentParser):
  """argparse with the module's docstring as help and bad flags as one `error:` line."""

  def __init__(self, prog: str, doc: str, **kwargs):
    super().__init__(prog=prog, description=doc,
                     formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)

  def error(self, message: str) -> NoReturn:
    fail(f'{message} (see {self.prog} --help)')


def _usage() -> str:
  width = max(len(verb) for verb in VERBS)
  lines = [f'  {verb:<{width}}  {summary}' for verb, (_, summary) in VERBS.items()]
  return ('usage: jaxlens <command> [flags]   (jaxlens <command> --help for its flags)\n\n'
          'commands:\n' + '\n'.join(lines) + '\n\n' + __doc__.split('\n\n', 2)[2])


def main() -> None:
  """The installed `jaxlens` command."""
  args = sys.argv[1:]
  if not args or args[0] in ('-h', '--help', 'help'):
    print(_usage())
    sys.exit(0 if args else BAD_INPUT_EXIT_STATUS)
  verb = args[0]
  if verb not in VERBS:
    fail(f'unknown command {verb!r}; known: {", ".join(VERBS)} (jaxlens --help)')
  sys.argv = [f'jaxlens {verb}', *args[1:]]
  importlib.import_module(VERBS[verb][0]).run()
