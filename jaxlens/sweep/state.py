"""`sweep.json`: the cells a sweep expects and where each stands, rewritten atomically.

The report reads it to show expected runs that are missing; the sweep reads it back to keep wall
seconds and failures across invocations. Disk wins over the record: a workdir with results.json
is finished whoever ran it (this machine or a cluster).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os

from jaxlens.errors import JaxlensError
from jaxlens.sweep.spec import Job

FILE = 'sweep.json'
PENDING, FINISHED, UNFINISHED, FAILED = 'pending', 'finished', 'unfinished', 'failed'


@dataclasses.dataclass
class CellState:
  state: str = PENDING
  wall_seconds: float = 0.0  # spent by this sweep on the cell, over all invocations
  exit_status: int | None = None
  error: str = ''  # the last stderr line of a failed run

  def refresh(self, workdir: str) -> None:
    """What the workdir says now: finished, resumable, or as last recorded."""
    if os.path.exists(os.path.join(workdir, 'results.json')):
      self.state, self.error = FINISHED, ''
    elif os.path.isdir(os.path.join(workdir, 'checkpoints')) and self.state != FAILED:
      self.state = UNFINISHED


class SweepRecord:
  """The sweep file, its root and every cell's job and state; `save()` after each change."""

  def __init__(self, spec: str, study: str, root: str, jobs: list[Job]):
    self.spec, self.study, self.root, self.jobs = spec, study, root, jobs
    previous = _read(root)
    if previous and _normalized(previous.get('sweep', '')) != _normalized(spec):
      raise JaxlensError(f'{os.path.join(root, FILE)} belongs to {previous.get("sweep")!r}, '
                         f'not {spec!r}; choose another --root')
    recorded = {cell.get('name'): cell for cell in previous.get('cells', [])}
    self.states = {job.name: _state_from(recorded.get(job.name, {})) for job in jobs}
    for job in jobs:
      self.states[job.name].refresh(job.workdir)

  def save(self) -> None:
    record = {
        'sweep': self.spec, 'study': self.study, 'root': self.root,
        'updated': datetime.datetime.now().isoformat(timespec='seconds'),
        'cells': [{'name': job.name, 'config': job.config, 'overrides': job.overrides,
                   'command': job.command, **dataclasses.asdict(self.states[job.name])}
                  for job in self.jobs],
    }
    os.makedirs(self.root, exist_ok=True)
    path = os.path.join(self.root, FILE)
    with open(path + '.tmp', 'w') as f:
      json.dump(record, f, indent=1)
    os.replace(path + '.tmp', path)

  def counts(self) -> dict[str, int]:
    states = [state.state for state in self.states.values()]
    return {name: states.count(name) for name in (FINISHED, UNFINISHED, FAILED, PENDING)}


def _read(root: str) -> dict:
  path = os.path.join(root, FILE)
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise JaxlensError(f'{path}: unreadable ({e}); remove it to start the record afresh') from e


def _state_from(cell: dict) -> CellState:
  fields = {field.name for field in dataclasses.fields(CellState)}
  return CellState(**{key: value for key, value in cell.items() if key in fields})


def _normalized(spec: str) -> str:
  path, _, arg = spec.partition(':')
  return f'{os.path.normpath(path)}:{arg}'
