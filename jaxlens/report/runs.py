"""Finding runs and reading what they left: results.json, config.json and sweeps' sweep.json.

A run is any folder holding results.json or config.json. A sweep.json adds the runs its sweep
expects, so a cell that never ran (or never finished) shows as missing instead of vanishing; a
cell without config.json borrows a finished sibling's config with its own overrides on top, so
it still lands in its table slot.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from typing import Any

from jaxlens.sweep import state as sweep_state

FINISHED, UNREADABLE = sweep_state.FINISHED, 'unreadable'
_SKIPPED_FOLDERS = ('checkpoints', 'tensorboard')
_NO_CONFIG = 'no config.json: model and data unknown'


@dataclasses.dataclass(frozen=True)
class SweepInfo:
  root: str
  spec: str  # the sweep file and argument, e.g. configs/sweeps/table6.py:toy
  study: str  # table6, table8, fig5 or another sweep file's name


@dataclasses.dataclass
class Run:
  path: str
  config: dict[str, Any]  # config.json, or as its sweep describes it; {} when unknown
  results: dict[str, Any] | None  # None unless finished
  state: str  # finished | unfinished | failed | pending | unreadable
  notes: list[str] = dataclasses.field(default_factory=list)  # what is missing or unreadable
  sweep: SweepInfo | None = None
  cell: str = ''
  config_from_file: bool = False

  @property
  def finished(self) -> bool:
    return self.results is not None

  def test(self, metric: str) -> float | None:
    value = (self.results or {}).get('test', {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else None


def find(folders: list[str]) -> list[Run]:
  """Every run under `folders` (recursively) and every run their sweeps expect, by path."""
  runs: dict[str, Run] = {}
  sweep_roots = []
  for top in folders:
    for here, subfolders, files in os.walk(top):
      subfolders[:] = sorted(name for name in subfolders if name not in _SKIPPED_FOLDERS)
      if sweep_state.FILE in files:
        sweep_roots.append(here)
      if 'results.json' in files or 'config.json' in files:
        runs.setdefault(os.path.normpath(here), read_run(here))
  for root in sweep_roots:
    for run in _expected_by_sweep(root, runs):
      runs.setdefault(os.path.normpath(run.path), run)
  return sorted(runs.values(), key=lambda run: _natural_key(run.path))


def _natural_key(text: str) -> list:
  """Numbers compared as numbers, so `warm50` comes before `warm200`."""
  return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', text)]


def _read_json(path: str) -> tuple[dict | None, str]:
  """(content, '') or (None, why not); an absent file is (None, '')."""
  if not os.path.exists(path):
    return None, ''
  try:
    with open(path) as f:
      content = json.load(f)
  except (OSError, ValueError) as e:
    return None, f'{os.path.basename(path)} unreadable: {e}'
  if not isinstance(content, dict):
    return None, f'{os.path.basename(path)} unreadable: not a JSON object'
  return content, ''


def read_run(path: str) -> Run:
  config, config_problem = _read_json(os.path.join(path, 'config.json'))
  results, results_problem = _read_json(os.path.join(path, 'results.json'))
  if results is not None and not isinstance(results.get('test'), dict):
    results, results_problem = None, 'results.json unreadable: no "test" metrics'
  notes = [problem for problem in (config_problem, results_problem) if problem]
  if config is None and not config_problem:
    notes.append(_NO_CONFIG)
  state = FINISHED if results is not None else UNREADABLE if results_problem else 'unfinished'
  return Run(path=path, config=config or {}, results=results, state=state, notes=notes,
             config_from_file=config is not None)


def _expected_by_sweep(root: str, runs: dict[str, Run]) -> list[Run]:
  """The runs of a sweep's cells, tagged with the sweep; cells never started become missing."""
  record, problem = _read_json(os.path.join(root, sweep_state.FILE))
  if record is None:
    return [Run(path=os.path.join(root, sweep_state.FILE), config={}, results=None,
                state=UNREADABLE, notes=[problem])]
  info = SweepInfo(root=root, spec=record.get('sweep', '?'), study=record.get('study', ''))
  cells = [cell for cell in record.get('cells', []) if isinstance(cell, dict) and 'name' in cell]
  expected = []
  for cell in cells:
    path = os.path.join(root, cell['name'])
    run = runs.get(os.path.normpath(path)) or Run(path=path, config={}, results=None,
                                                  state=sweep_state.PENDING)
    run.sweep, run.cell = info, cell['name']
    if not run.finished and run.state != UNREADABLE:
      recorded = cell.get('state')
      run.state = (recorded if recorded in (sweep_state.FAILED, sweep_state.UNFINISHED) else
                   sweep_state.UNFINISHED if os.path.isdir(path) else sweep_state.PENDING)
      if cell.get('error'):
        run.notes.append(cell['error'])
    expected.append(run)
  for run, cell in zip(expected, cells):
    if not run.config_from_file:
      run.config = _config_from_sibling(cell, cells, expected)
      if run.config and _NO_CONFIG in run.notes:
        run.notes.remove(_NO_CONFIG)
        run.notes.append('no config.json: read as its sweep describes it')
  return expected


def _config_from_sibling(cell: dict, cells: list[dict], runs: list[Run]) -> dict:
  """A sibling's config.json (same config file) with this cell's overrides; {} if none has one."""
  sibling = next((run.config for run, other in zip(runs, cells)
                  if run.config_from_file and other.get('config') == cell.get('config')), None)
  if sibling is None:
    return {}
  config = copy.deepcopy(sibling)
  for dotted, value in cell.get('overrides', {}).items():
    *parents, key = dotted.split('.')
    node = config
    for parent in parents:
      node = node.setdefault(parent, {})
    node[key] = value
  return config
