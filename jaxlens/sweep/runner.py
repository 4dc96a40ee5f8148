"""Runs a sweep's cells one after another on this machine: skip, resume, record, interrupt.

A cell whose workdir holds results.json is skipped; any other is started with its command, which
resumes it when it has checkpoints. Failures are recorded and the sweep carries on. SIGTERM or
SIGINT to the sweep is forwarded to the running cell as SIGTERM (it saves a checkpoint and exits
75), the record is saved and the sweep exits 75 ("resume me", like a cell).
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Protocol, Sequence

from jaxlens.sweep.spec import Job
from jaxlens.sweep.state import FAILED, FINISHED, UNFINISHED, CellState, SweepRecord

RESUME_ME = 75  # the exit status of a run (and of a sweep) stopped before its end
LOCAL_PROGRAM = (sys.executable, '-m', 'jaxlens.main')


@dataclasses.dataclass(frozen=True)
class Outcome:
  exit_status: int
  last_line: str = ''  # the last non-empty stderr line


class Launched(Protocol):
  """A running cell."""

  def stop(self) -> None:
    """Asks the cell to save a checkpoint and exit (SIGTERM)."""

  def wait(self) -> Outcome:
    ...


class Subprocess:
  """A child process: stdout passes through, stderr is echoed and its tail kept.

  The child gets its own process group so that a terminal's Ctrl-C reaches only the sweep, which
  turns it into the SIGTERM the training loop checkpoints on.
  """

  _TAIL_BYTES = 8192

  def __init__(self, argv: Sequence[str]):
    self._process = subprocess.Popen(argv, stderr=subprocess.PIPE, process_group=0)
    self._tail = b''
    self._echo = threading.Thread(target=self._echo_stderr, daemon=True)
    self._echo.start()

  def _echo_stderr(self) -> None:
    decoder = codecs.getincrementaldecoder('utf-8')(errors='replace')
    for chunk in iter(lambda: self._process.stderr.read1(4096), b''):
      sys.stderr.write(decoder.decode(chunk))
      sys.stderr.flush()
      self._tail = (self._tail + chunk)[-self._TAIL_BYTES:]

  def stop(self) -> None:
    if self._process.poll() is None:
      self._process.send_signal(signal.SIGTERM)

  def wait(self) -> Outcome:
    status = self._process.wait()
    self._echo.join()
    lines = [line.strip() for line in re.split(r'[\r\n]', self._tail.decode(errors='replace'))]
    return Outcome(status, next((line for line in reversed(lines) if line), ''))


def _judge(outcome: Outcome, workdir: str) -> tuple[str, str]:
  """(state, error) of a cell after its process ended."""
  status = outcome.exit_status
  if os.path.exists(os.path.join(workdir, 'results.json')) and status == 0:
    return FINISHED, ''
  if status == 0:
    return UNFINISHED, 'exited 0 without results.json'
  if status in (RESUME_ME, -signal.SIGTERM, -signal.SIGINT):
    return UNFINISHED, ''
  if status < 0:
    return FAILED, f'killed by {signal.Signals(-status).name}'
  return FAILED, outcome.last_line or f'exit status {status}'


class Runner:
  """Runs the selected jobs of a record in order, saving the record after each."""

  def __init__(self, record: SweepRecord,
               launch: Callable[[list[str]], Launched] = Subprocess,
               program: Sequence[str] = LOCAL_PROGRAM):
    self._record, self._launch, self._program = record, launch, program
    self._running: Launched | None = None
    self._stopping = False

  def run(self, jobs: Sequence[Job]) -> int:
    """Runs `jobs`; the exit status: 0 all finished, 75 stopped or unfinished, 1 any failed."""
    self._record.save()
    with self._forwarding_signals():
      for index, job in enumerate(jobs, 1):
        if self._stopping:
          break
        self._run_one(job, self._record.states[job.name], f'[{index}/{len(jobs)}] {job.name}')
        self._record.save()
    self._record.save()
    counts = self._record.counts()
    _say(', '.join(f'{n} {state}' for state, n in counts.items()) +
         f' ({os.path.join(self._record.root, "sweep.json")})')
    states = {self._record.states[job.name].state for job in jobs}
    if self._stopping or (UNFINISHED in states and FAILED not in states):
      return RESUME_ME
    return 1 if FAILED in states else 0

  def _run_one(self, job: Job, state: CellState, tag: str) -> None:
    if state.state == FINISHED:
      _say(f'{tag}: finished already, skipped')
      return
    _say(f'{tag}: {"resume" if state.state == UNFINISHED else "start"}: {job.command}')
    start = time.time()
    self._running = self._launch(job.argv(self._program))
    outcome = self._running.wait()
    self._running = None
    seconds = time.time() - start
    state.wall_seconds += seconds
    state.exit_status = outcome.exit_status
    state.state, state.error = _judge(outcome, job.workdir)
    _say(f'{tag}: {state.state} (exit status {outcome.exit_status}) after {seconds:.0f} s' +
         (f': {state.error}' if state.error else ''))

  @contextlib.contextmanager
  def _forwarding_signals(self):
    previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
      yield
    finally:
      for sig, handler in previous.items():
        signal.signal(sig, handler)

  def _on_signal(self, signum, frame) -> None:
    del frame
    _say(f'{signal.Signals(signum).name}: stopping; the running cell saves a checkpoint')
    self._stopping = True
    if self._running is not None:
      self._running.stop()


def _say(line: str) -> None:
  print(f'sweep: {line}', flush=True)
