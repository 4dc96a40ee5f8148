"""How a command starts: XLA's CPU flags before JAX starts, then joining a multi-process job.

Import this module before JAX (it imports JAX only inside `join_cluster`). `python -m
jaxlens.main` and `jaxlens extract` both start this way.
"""

from __future__ import annotations

import os

from jaxlens.errors import JaxlensError

# Environment variables that mean "one of several processes" (name, minimum value).
_CLUSTER_SIGNS = (('SLURM_NTASKS', 2), ('OMPI_COMM_WORLD_SIZE', 2), ('MEGASCALE_NUM_SLICES', 2),
                  ('TPU_WORKER_HOSTNAMES', None))


def prefer_onednn_convolutions() -> None:
  """Routes XLA:CPU's 3D convolutions to oneDNN (its own run at a third of the speed: a 2.6x
  slower SASRec_V step). CPU-only, so harmless on TPU and GPU; call before JAX starts."""
  if '--xla_cpu_experimental_onednn_custom_call' not in os.environ.get('XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                               ' --xla_cpu_experimental_onednn_custom_call=true').strip()


def launched_as_several(coordinator_address: str | None = None) -> str | None:
  """Why the command line or the environment says this process is one of several, or None."""
  if coordinator_address:
    return '--coordinator_address is set'
  for name, minimum in _CLUSTER_SIGNS:
    value = os.environ.get(name, '')
    several = (',' in value) if minimum is None else value.isdigit() and int(value) >= minimum
    if several:
      return f'{name}={value}'
  return None


def join_cluster(coordinator_address: str | None = None, num_processes: int | None = None,
                 process_id: int | None = None) -> None:
  """Joins a multi-process job when launched as one (TPU pods, SLURM, an explicit coordinator
  address with the process count and this process's id).

  A single host stays silent about it; a multi-process launch whose initialisation fails stops
  with one line (`JaxlensError`), rather than running as N independent single-host jobs.
  """
  import jax  # pylint: disable=g-import-not-at-top
  reason = launched_as_several(coordinator_address)
  try:
    if coordinator_address:
      jax.distributed.initialize(coordinator_address, num_processes, process_id)
    else:
      jax.distributed.initialize()
  except (ValueError, RuntimeError) as e:
    if reason:
      message = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
      raise JaxlensError(f'this is a multi-process launch ({reason}), but '
                         f'jax.distributed.initialize failed: {message}') from None
