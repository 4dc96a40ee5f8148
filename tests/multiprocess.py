"""Launching `python -m jaxlens.main` as several local JAX processes (a pod on one machine)."""

import os
import socket
import subprocess
import sys

from tests import helpers


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def launch(argv: list[str], processes: int, devices_per_process: int) -> list[subprocess.Popen]:
  """`processes` processes of one job on localhost, each with its simulated CPU devices."""
  env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices_per_process}',
             JAX_PLATFORMS='cpu')
  if processes == 1:
    return [subprocess.Popen([sys.executable, '-m', 'jaxlens.main', *argv], cwd=helpers.REPO,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
  coordinator = f'localhost:{free_port()}'
  return [subprocess.Popen(
      [sys.executable, '-m', 'jaxlens.main', *argv, f'--coordinator_address={coordinator}',
       f'--num_processes={processes}', f'--process_id={i}'], cwd=helpers.REPO, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(processes)]


def wait(children: list[subprocess.Popen], timeout: float = 900) -> list[tuple[int, str, str]]:
  """(exit status, stdout, stderr) of each process."""
  results = []
  for child in children:
    stdout, stderr = child.communicate(timeout=timeout)
    results.append((child.returncode, stdout, stderr))
  return results
