"""One live run per workdir: a lock a run holds from its start to its end.

Two runs on one workdir remove each other's uncommitted checkpoints and write beside each other
(a retried job, a second `gcloud ... --worker=all`). On a disk the lock is an exclusive `fcntl`
lock on `WORKDIR/run.lock`, which the kernel drops when its process ends, however it ends; the
file says who holds it. A bucket has no locks: the run writes a lease, the object
`WORKDIR/run.lock`, only if it is absent (a generation precondition, atomic in Cloud Storage), and
renews it every `HEARTBEAT_SECONDS`. A lease not renewed for `LEASE_SECONDS` has expired, and one
whose holder is a dead process on this host is stale at once: either is taken over, again under
a generation precondition, so of two launches taking it over one wins. A multi-process job holds
one lock: process 0 takes it and tells the others whether it did, so a job that finds its
workdir in use stops on every process, and only process 0 renews or releases it.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import threading
import time

from absl import logging

from jaxlens import paths, process_zero
from jaxlens.errors import JaxlensError

LOCK = 'run.lock'
LEASE_SECONDS = 60
HEARTBEAT_SECONDS = 15


def _me() -> dict:
  now = time.time()
  return {'host': socket.gethostname(), 'pid': os.getpid(), 'renewed': now,
          'since': datetime.datetime.fromtimestamp(now).astimezone().isoformat(timespec='seconds')}


def _holder_text(holder: dict) -> str:
  return (f'host {holder.get("host", "?")}, pid {holder.get("pid", "?")}, '
          f'since {holder.get("since", "?")}')


def _dead_here(holder: dict) -> bool:
  """The holder is a process of this host that no longer runs."""
  if holder.get('host') != socket.gethostname() or not isinstance(holder.get('pid'), int):
    return False
  try:
    os.kill(holder['pid'], 0)
  except ProcessLookupError:
    return True
  except PermissionError:  # alive, another user's
    return False
  return False


class _FileLock:
  """`fcntl.flock` on a local file; the file is never removed while a workdir holds more (a
  removed lock file would let two runs lock two files of one name)."""

  def __init__(self, workdir: str):
    self._workdir = os.fspath(paths.resolve(workdir))
    self._path = os.path.join(self._workdir, LOCK)
    self._fd = None
    self._created_workdir = False

  def acquire(self) -> str | None:
    """None once held; otherwise who holds it."""
    self._created_workdir = not os.path.exists(self._workdir)
    os.makedirs(self._workdir, exist_ok=True)
    while True:
      fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        with os.fdopen(fd) as f:
          text = f.read()
        try:
          return _holder_text(json.loads(text))
        except ValueError:  # the holder is writing it this instant
          return 'a run that is starting'
      if os.path.exists(self._path) and os.stat(self._path).st_ino == os.fstat(fd).st_ino:
        break
      os.close(fd)  # locked a file a finishing run had just removed: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(_me()).encode())
    self._fd = fd
    return None

  def release(self) -> None:
    if self._created_workdir and os.listdir(self._workdir) == [LOCK]:  # the run wrote nothing
      os.remove(self._path)
      os.rmdir(self._workdir)
    os.close(self._fd)  # unlocks


class _Lease:
  """A lease object in a bucket, renewed by a daemon thread."""

  def __init__(self, workdir: str):
    from google.cloud import storage  # pylint: disable=g-import-not-at-top  # the cloud extra
    bucket, _, prefix = os.fspath(workdir).split('://', 1)[1].partition('/')
    self._name = f'gs://{bucket}/{prefix.rstrip("/")}/{LOCK}'
    self._blob_name = f'{prefix.rstrip("/")}/{LOCK}'.lstrip('/')
    self._bucket = storage.Client().bucket(bucket)
    self._generation = None
    self._holder = _me()
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._renew, daemon=True, name='jaxlens-lease')

  def _write(self, generation: int) -> None:
    """Writes this run's lease if the object's generation is `generation` (0: absent)."""
    blob = self._bucket.blob(self._blob_name)
    blob.upload_from_string(json.dumps(self._holder), content_type='application/json',
                            if_generation_match=generation)
    self._generation = blob.generation

  def acquire(self) -> str | None:
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    try:
      self._write(0)
    except exceptions.PreconditionFailed:
      blob = self._bucket.get_blob(self._blob_name)
      holder = {}
      if blob is not None:
        with contextlib.suppress(ValueError):
          holder = json.loads(blob.download_as_bytes())
      age = time.time() - holder.get('renewed', 0)
      if blob is not None and age <= LEASE_SECONDS and not _dead_here(holder):
        return f'{_holder_text(holder)}; lease renewed {age:.0f} s ago'
      try:
        self._write(blob.generation if blob is not None else 0)
      except exceptions.PreconditionFailed:
        return 'another run that took over the expired lease this instant'
      logging.info('took over the lease %s of %s (expired or its process ended)', self._name,
                   _holder_text(holder))
    self._thread.start()
    return None

  def _renew(self) -> None:
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    while not self._stop.wait(HEARTBEAT_SECONDS):
      self._holder['renewed'] = time.time()
      try:
        self._write(self._generation)
      except exceptions.PreconditionFailed:
        logging.warning('the lease %s was taken over by another run; stop this one', self._name)
        return
      except Exception:  # pylint: disable=broad-except  # a failed renewal is retried
        logging.info('renewing the lease %s failed', self._name, exc_info=True)

  def release(self) -> None:
    self._stop.set()
    self._thread.join()
    with contextlib.suppress(Exception):
      self._bucket.blob(self._blob_name).delete(if_generation_match=self._generation)


@contextlib.contextmanager
def held(workdir: str):
  """Holds the workdir's lock for the job; `JaxlensError` naming the holder if another run
  holds it."""
  lock = None
  if process_zero.is_zero():
    lock = _FileLock(workdir) if paths.is_local(workdir) else _Lease(workdir)
  holder = process_zero.decides(lock.acquire if lock else None)
  if holder is not None:
    raise JaxlensError(f'{workdir} is in use by another run ({holder}); let it finish or stop '
                       'it, or use another workdir')
  try:
    yield
  finally:
    if lock is not None:
      lock.release()
