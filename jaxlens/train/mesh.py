"""The device mesh and the logical-axis rules that place parameters and batches on it.

"pjit" today is `jax.jit` with shardings: parameters carry logical axis names
(`nnx.with_partitioning`), `config.mesh.rules` maps them to mesh axes, and batches are laid over
the `batch` axis. Multi-host: each process loads its slice of a global batch and
`make_array_from_process_local_data` assembles the global array.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxlens.errors import JaxlensError

AXES = ('data', 'model')


def make_mesh(mesh_config, devices=None) -> jax.sharding.Mesh:
  """A `data` x `model` mesh over `devices` (default: all); -1 takes what the others leave."""
  device_list = devices if devices is not None else jax.devices()
  sizes = [mesh_config[axis] for axis in AXES]
  count = len(device_list)
  fixed = math.prod(s for s in sizes if s != -1)
  if sizes.count(-1) > 1 or count % fixed:
    raise JaxlensError(f'config.mesh {dict(zip(AXES, sizes))} does not fit {count} devices')
  sizes = [count // fixed if s == -1 else s for s in sizes]
  if math.prod(sizes) != count:
    raise JaxlensError(f'config.mesh {dict(zip(AXES, sizes))} uses {math.prod(sizes)} of '
                       f'{count} devices')
  return jax.make_mesh(tuple(sizes), AXES, axis_types=(jax.sharding.AxisType.Auto,) * len(AXES),
                       devices=device_list)


def mesh_axis(rules, logical: str):
  return dict(rules).get(logical)


def axis_size(mesh: jax.sharding.Mesh, rules, logical: str) -> int:
  """Devices a logical axis is split over (1 when it is replicated)."""
  axis = mesh_axis(rules, logical)
  return mesh.shape[axis] if axis else 1


def largest_dim_spec(shape: tuple[int, ...], axis: str | None, size: int) -> P:
  """FSDP layout: the largest dimension divisible by the axis size is split over it."""
  if axis:
    for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
      if shape[dim] % size == 0:
        return P(*[axis if d == dim else None for d in range(len(shape))])
  return P()


def shard_parameters(module, mesh: jax.sharding.Mesh, rules, logical: str) -> None:
  """Lays out every parameter of `module` by the rule for `logical` (e.g. 'encoder_params').

  Mapped to the batch axis this is FSDP: each device holds a slice and XLA gathers a layer's
  weights where the jitted step needs them; mapped to None the parameters stay replicated.
  """
  from flax import nnx  # pylint: disable=g-import-not-at-top
  axis = mesh_axis(rules, logical)
  size = axis_size(mesh, rules, logical)
  for _, var in nnx.to_flat_state(nnx.state(module, nnx.Param)):
    value = var.get_value()
    spec = largest_dim_spec(value.shape, axis, size)
    var.set_value(jax.device_put(value, NamedSharding(mesh, spec)))


def batch_sharding(mesh: jax.sharding.Mesh, rules) -> NamedSharding:
  return NamedSharding(mesh, P(mesh_axis(rules, 'batch')))


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """This process's rows -> arrays over the whole mesh (identity on one host)."""
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
