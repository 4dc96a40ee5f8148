"""Sweep files: loading, checking, and expanding their cells into `jaxlens train` commands."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from typing import Any, Mapping, Sequence

from jaxlens import default_config
from jaxlens.errors import JaxlensError

PROGRAM = ('jaxlens', 'train')
_CELL_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+-]*$')  # a cell name is a folder name
_CONFIG_KEY = re.compile(r'[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$')
_VALUE_TYPES = (str, bool, int, float, tuple)


@dataclasses.dataclass(frozen=True)
class Cell:
  """One run: its folder name under the sweep's root and its `--config.` overrides."""
  name: str
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  config: str = ''  # this cell's config (a name or a file); '' = the sweep's


@dataclasses.dataclass(frozen=True)
class Sweep:
  config: str  # base config (a name or a file), with its optional `:arg`
  cells: Sequence[Cell]
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # every cell's


@dataclasses.dataclass(frozen=True)
class Job:
  """A cell made concrete: where it runs and the command that runs (or resumes) it."""
  name: str
  workdir: str
  config: str
  overrides: dict[str, Any]

  def argv(self, program: Sequence[str] = PROGRAM) -> list[str]:
    flags = [f'--config.{key}={_flag_value(value)}' for key, value in self.overrides.items()]
    return [*program, '--config', self.config, '--workdir', self.workdir, *flags]

  @property
  def command(self) -> str:
    return shlex.join(self.argv())


def _flag_value(value: Any) -> str:
  return value if isinstance(value, str) else repr(value)


def load(spec: str) -> Sweep:
  """A sweep by name ('table6:toy') or file ('my_sweep.py:arg') -> its checked `Sweep`; any
  problem is one JaxlensError line."""
  default_config.config_path(spec, 'sweeps')  # an unknown name or file: its own message
  try:
    sweep = default_config.load_module(spec, 'get_sweep', 'sweeps')
  except Exception as e:  # pylint: disable=broad-except  # a sweep file is user code
    message = str(e) if isinstance(e, (ValueError, JaxlensError)) else f'{type(e).__name__}: {e}'
    raise JaxlensError(f'{spec}: {message}') from e
  _check(sweep, spec)
  return sweep


def study_name(spec: str) -> str:
  """The study a sweep file stands for: its file name (`table6` for configs/sweeps/table6.py)."""
  return os.path.splitext(os.path.basename(spec.partition(':')[0]))[0]


def _check(sweep: Any, spec: str) -> None:
  if not isinstance(sweep, Sweep):
    raise JaxlensError(f'{spec}: get_sweep must return a jaxlens.sweep.Sweep, got '
                       f'{type(sweep).__name__}')
  if not sweep.cells:
    raise JaxlensError(f'{spec}: the sweep has no cells')
  seen = set()
  for cell in sweep.cells:
    where = f'{spec}: cell {getattr(cell, "name", cell)!r}'
    if not isinstance(cell, Cell):
      raise JaxlensError(f'{where} is not a jaxlens.sweep.Cell')
    if not _CELL_NAME.match(cell.name):
      raise JaxlensError(f'{where}: a cell name is a folder name (letters, digits, _.+-)')
    if cell.name in seen:
      raise JaxlensError(f'{where} appears twice')
    seen.add(cell.name)
    try:
      default_config.config_path(cell.config or sweep.config)
    except JaxlensError as e:
      raise JaxlensError(f'{where}: {e}') from None
    for key, value in {**sweep.overrides, **cell.overrides}.items():
      if not isinstance(key, str) or not _CONFIG_KEY.match(key):
        raise JaxlensError(f'{where}: {key!r} is not a config key like model.hidden')
      if not isinstance(value, _VALUE_TYPES):
        raise JaxlensError(f'{where}: {key}={value!r} is not a str, bool, int, float or tuple')


def expand(sweep: Sweep, root: str) -> list[Job]:
  """One job per cell, in the sweep's order, each in `root/<cell name>`."""
  return [Job(name=cell.name, workdir=os.path.join(root, cell.name),
              config=cell.config or sweep.config,
              overrides={**sweep.overrides, **cell.overrides})
          for cell in sweep.cells]
