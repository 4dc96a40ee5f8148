"""The `--config` flag of the commands that run a config (`jaxlens train`, `jaxlens aot`).

absl parses the flags; this puts a one-line error on every way they can be wrong (a config that
does not exist, an override of a key that does not exist or was renamed, a bad value), finds
shipped configs by name (`--config sasrec_v:toy`), and prints the command's own flags for
`--help`, also when it runs as the installed `jaxlens <verb>`.
"""

from __future__ import annotations

import sys
import types
from typing import Callable

from absl import app, flags

from jaxlens import cli, default_config, logs
from jaxlens.errors import JaxlensError

_HELP = ('-h', '--help', '--helpshort', '--helpfull')


def _one_line(message: str) -> str:
  """The first and last lines of a multi-line error (ml_collections embeds tracebacks)."""
  lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
  return lines[0] if len(lines) == 1 else f'{lines[0]} {lines[-1]}'


def _with_config_paths(argv: list[str]) -> list[str]:
  """`--config NAME[:arg]` (either form) as the shipped file's path; a path stays as given."""
  out = list(argv)
  for i, arg in enumerate(out):
    if arg.startswith('--config='):
      path, config_arg = default_config.config_path(arg.split('=', 1)[1])
      out[i] = f'--config={path}' + (f':{config_arg}' if config_arg else '')
    elif arg == '--config' and i + 1 < len(out):
      path, config_arg = default_config.config_path(out[i + 1])
      out[i + 1] = path + (f':{config_arg}' if config_arg else '')
  return out


def _check_renamed(argv: list[str]) -> None:
  renamed = default_config.renamed_keys()
  for arg in argv:
    key = arg.removeprefix('--config.').split('=', 1)[0]
    if arg.startswith('--config.') and key in renamed:
      raise JaxlensError(f'config.{key} is now per part: ' +
                         ', '.join(f'config.{new}' for new in renamed[key]))


def parse(argv: list[str], config_flag, doc: str, module: types.ModuleType) -> list[str]:
  """absl's parser for `module`'s flags, with the errors and help above."""
  if any(arg in _HELP for arg in argv[1:]):
    print(doc.strip() + '\n\nflags:\n' + flags.FLAGS.module_help(module))
    sys.exit(0)
  try:
    _check_renamed(argv[1:])
    remaining = flags.FLAGS(_with_config_paths(argv))
    config_flag.value.seed  # pylint: disable=pointless-statement  # config files load lazily
    return remaining
  except JaxlensError as e:
    cli.fail(str(e))
  except (flags.Error, OSError, AttributeError, TypeError, ValueError, KeyError) as e:
    cause = e if isinstance(e, KeyError) else (e.__cause__ or e.__context__)
    if isinstance(cause, KeyError):  # an override of a key that does not exist
      cli.fail(f'config has no key {_one_line(str(cause.args[0]))}')
    cli.fail(_one_line(str(e)))


def run(command: Callable[[], None], config_flag, doc: str, module: types.ModuleType) -> None:
  """Runs `command` as an absl program with `parse` as its flag parser; exits with its status."""

  def main(argv):
    del argv
    logs.quiet_terminal()
    sys.exit(cli.exit_status(command))

  app.run(main, flags_parser=lambda argv: parse(argv, config_flag, doc, module))
