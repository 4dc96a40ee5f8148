"""Accelerator chips as the ahead-of-time report needs them, and the devices of a topology.

A chip's capacity and peaks are the vendors' published figures (per chip, dense bfloat16). A
topology's devices come from the accelerator's compiler on any host: libtpu for Cloud TPU
slices (requirements-tpu.txt), JAX's CUDA plugin for GPU hosts (requirements-gpu-aot.txt). They
can be compiled for, never run on.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib

import jax

from jaxlens.errors import JaxlensError


# JAX's GPU allocator gives a process this share of each GPU's memory, and no more, unless
# XLA_CLIENT_MEM_FRACTION (or its older name XLA_PYTHON_CLIENT_MEM_FRACTION) says otherwise;
# preallocation on or off. libtpu manages a TPU's memory itself and says what it allows.
GPU_MEMORY_FRACTION = 0.75
_FRACTION_VARIABLES = ('XLA_CLIENT_MEM_FRACTION', 'XLA_PYTHON_CLIENT_MEM_FRACTION')


@dataclasses.dataclass(frozen=True)
class Chip:
  name: str
  hbm_gib: float  # memory per device
  peak_tflops: float  # dense bfloat16 per device
  hbm_gbps: float  # memory bandwidth per device, GB/s
  gpu: bool = False

  @property
  def hbm_bytes(self) -> int:
    return int(self.hbm_gib * 2**30)

  @property
  def usable_bytes(self) -> int:
    """What one process's program may hold on a device: a GPU's share under JAX's allocator
    (`gpu_memory_fraction`), as the run that this environment describes would get it."""
    return int(self.hbm_bytes * gpu_memory_fraction()) if self.gpu else self.hbm_bytes

  def capacity_words(self) -> str:
    """The capacity `usable_bytes` holds to, for messages and table headers."""
    if not self.gpu:
      return f'{self.usable_bytes / 2**30:.0f} GiB'
    # Two decimals, as a refused program's needs are given: 55.89 GiB of an H100's "56" read
    # as fitting.
    return (f'{self.usable_bytes / 2**30:.2f} GiB ({gpu_memory_fraction():.0%} of its '
            f'{self.hbm_gib:.2f} GiB: JAX\'s allocator share, XLA_CLIENT_MEM_FRACTION)')


def gpu_memory_fraction() -> float:
  """The share of a GPU's memory JAX's allocator takes: XLA_CLIENT_MEM_FRACTION (or
  XLA_PYTHON_CLIENT_MEM_FRACTION) where set, else JAX's default; all of it with
  XLA_PYTHON_CLIENT_ALLOCATOR=platform (allocation on demand, no pool)."""
  if os.environ.get('XLA_PYTHON_CLIENT_ALLOCATOR', '').lower() == 'platform':
    return 1.0
  for variable in _FRACTION_VARIABLES:
    value = os.environ.get(variable)
    if value:
      try:
        fraction = float(value)
      except ValueError:
        fraction = -1.0
      if not 0 < fraction <= 1:
        raise JaxlensError(f'{variable}={value!r}: expected a fraction of the GPU\'s memory, '
                           'e.g. 0.95')
      return fraction
  return GPU_MEMORY_FRACTION


# By `device.device_kind`. Cloud TPU's pages give v5e 197 TFLOP/s, 16 GiB at 819 GB/s; v5p 459,
# 95 GiB at 2,765 GB/s; v6e 918, 32 GiB at 1,640 GB/s. NVIDIA's: H100 SXM 989 TFLOP/s (dense),
# 80 GB at 3.35 TB/s; H200 989, 141 GB at 4.8 TB/s.
CHIPS = {
    'TPU v5 lite': Chip('TPU v5e', 16, 197, 819),
    'TPU v5': Chip('TPU v5p', 95, 459, 2765),
    'TPU v6 lite': Chip('TPU v6e', 32, 918, 1640),
    'NVIDIA H100 80GB HBM3': Chip('H100', 80 * 1e9 / 2**30, 989, 3350, gpu=True),
    'NVIDIA H200 141GB HBM3e': Chip('H200', 141 * 1e9 / 2**30, 989, 4800, gpu=True),
}

# `--topology h100:8`: the GPU's `device_kind`, which names its target configuration in XLA.
GPUS = {'h100': 'NVIDIA H100 80GB HBM3', 'h200': 'NVIDIA H200 141GB HBM3e'}


def chip_of(device: jax.Device) -> Chip | None:
  """The published figures of `device`'s chip; None for CPUs and chips not listed."""
  return CHIPS.get(device.device_kind)


def topology_devices(name: str, num_slices: int = 1) -> list[jax.Device]:
  """The devices of a Cloud TPU topology (`v5e:2x4`, `v5p:2x2x1`, `v6e:4x4`; `num_slices` of
  them joined over the data-center network) or of GPU hosts (`h100:8`: 8 H100s a host;
  `num_slices` hosts), for compiling only."""
  # This host's own accelerators take no part (on a host without them, JAX would probe for
  # them), and what is compiled for another platform cannot be loaded back here: a persistent
  # compilation cache would store entries it then fails to read.
  jax.config.update('jax_platforms', 'cpu')  # no effect once JAX has started its backends
  jax.config.update('jax_enable_compilation_cache', False)
  generation, _, shape = name.partition(':')
  if generation.lower() in GPUS:
    return _gpu_devices(name, GPUS[generation.lower()], shape, num_slices)
  return _tpu_devices(name, num_slices)


def _tpu_devices(name: str, num_slices: int) -> list[jax.Device]:
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
  if importlib.util.find_spec('libtpu') is None:
    raise JaxlensError('--topology needs the TPU compiler: pip install -r '
                       'requirements-tpu.txt (libtpu; no TPU needed)')
  # libtpu takes a lock file so that one process drives a host's TPUs; compiling drives none,
  # so several compiles (a benchmark's, a test's) may run at once.
  os.environ.setdefault('ALLOW_MULTIPLE_LIBTPU_LOAD', '1')
  try:
    topology = topologies.get_topology_desc(platform='tpu', topology_name=name,
                                            num_slices=num_slices)
  except Exception as e:  # pylint: disable=broad-except  # libtpu raises XlaRuntimeError
    raise JaxlensError(f'--topology {name!r}: libtpu cannot make it ({_first_line(e)}); use '
                       'GENERATION:SHAPE, e.g. v5e:2x4, v5p:2x2x1, v6e:4x4, or GPU:COUNT, '
                       f'e.g. h100:8 ({", ".join(GPUS)})') from None
  return list(topology.devices)


def _gpu_devices(name: str, kind: str, count: str, hosts: int) -> list[jax.Device]:
  """XLA:GPU compiles without a GPU given the GPU's target configuration (its
  `GpuTargetConfigProto`). JAX's CUDA plugin carries XLA's configurations of the GPUs it knows,
  as text; this reads the one of `kind` from the plugin itself."""
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
  if not count.isdigit() or int(count) < 1:
    raise JaxlensError(f'--topology {name!r}: use GPU:COUNT, the GPUs of a host, e.g. h100:8')
  plugin = cuda_plugin()
  if plugin is None:
    raise JaxlensError('--topology for GPUs needs the CUDA compiler: pip install -r '
                       'requirements-gpu-aot.txt (no GPU needed)')
  library = pathlib.Path(plugin.origin).parent / 'xla_cuda_plugin.so'
  try:
    topology = topologies.get_topology_desc(
        platform='cuda', topology_name=name, target_config=_target_config(library, kind),
        topology=f'1x{hosts}x{count}')
  except Exception as e:  # pylint: disable=broad-except  # XlaRuntimeError
    raise JaxlensError(f'--topology {name!r}: the CUDA plugin cannot make it '
                       f'({_first_line(e)})') from None
  return list(topology.devices)


def cuda_plugin() -> importlib.machinery.ModuleSpec | None:
  """JAX's CUDA plugin, where installed (requirements-gpu-aot.txt, or jax[cuda13])."""
  try:
    return importlib.util.find_spec('jax_plugins.xla_cuda13')
  except ModuleNotFoundError:  # no `jax_plugins` namespace: no plugin at all
    return None


def _target_config(library: pathlib.Path, kind: str) -> str:
  """The text `GpuTargetConfigProto` whose device description is `kind`, as embedded (one
  NUL-terminated string per GPU) in the plugin's library."""
  data = library.read_bytes()
  at = data.find(f'device_description_str: "{kind}"'.encode())
  if at < 0:
    raise JaxlensError(f'{library} has no target configuration for {kind}')
  return data[data.rfind(b'\0', 0, at) + 1:data.find(b'\0', at)].decode()


def _first_line(error: Exception) -> str:
  return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
