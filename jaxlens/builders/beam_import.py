"""Apache Beam lives in the build venv only (`requirements-build.txt`): importing it elsewhere is
a one-line error that says where to run."""

from __future__ import annotations

import importlib
from types import ModuleType

from jaxlens.errors import JaxlensError


def beam_module(name: str) -> ModuleType:
  """Imports a module that needs Apache Beam (`jaxlens.builders.beam_interactions`, ...)."""
  try:
    return importlib.import_module(name)
  except ModuleNotFoundError as e:
    if e.name is None or not e.name.startswith('apache_beam'):
      raise
    raise JaxlensError('building with Apache Beam needs it installed: run in the build venv '
                       '(pip install -r requirements-build.txt), or build in memory '
                       '(--engine=memory) a file that fits') from None
