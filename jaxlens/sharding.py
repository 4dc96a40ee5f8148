"""The device mesh and the logical-axis rules that place parameters and batches on it.

"pjit" today is `jax.jit` with shardings: parameters carry logical axis names (their
`out_sharding` metadata, e.g. ('items', 'embed') on the ID table, (..., 'encoder_out') on video
encoder kernels), `config.mesh.rules` maps those names to mesh axes, and batches are laid over
the `batch` axis. Multi-host: each process loads its slice of a global batch and
`make_array_from_process_local_data` assembles the global array.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
from flax import nnx
from jax.experimental import mesh_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxlens.errors import JaxlensError

AXES = ('data', 'model')


def make_mesh(mesh_config, devices=None) -> jax.sharding.Mesh:
  """A `data` x `model` mesh over `devices` (default: all); -1 takes what the others leave."""
  device_list = devices if devices is not None else jax.devices()
  sizes = [mesh_config[axis] for axis in AXES]
  count = len(device_list)
  if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
    raise JaxlensError(f'config.mesh {dict(zip(AXES, sizes))}: each axis is a positive size, '
                       'at most one is -1 (the devices the others leave)')
  fixed = math.prod(s for s in sizes if s != -1)
  if count % fixed:
    raise JaxlensError(f'config.mesh {dict(zip(AXES, sizes))} does not fit {count} devices')
  sizes = [count // fixed if s == -1 else s for s in sizes]
  if math.prod(sizes) != count:
    raise JaxlensError(f'config.mesh {dict(zip(AXES, sizes))} uses {math.prod(sizes)} of '
                       f'{count} devices')
  axis_types = (jax.sharding.AxisType.Auto,) * len(AXES)
  slices = len({getattr(device, 'slice_index', 0) for device in device_list})
  if slices == 1:
    return jax.make_mesh(tuple(sizes), AXES, axis_types=axis_types, devices=device_list)
  # Several TPU slices (multi-slice): `data` spans them over the data-center network, as in
  # MaxText; `model` stays within a slice, on its fast interconnect.
  if sizes[0] % slices:
    raise JaxlensError(f'config.mesh data={sizes[0]} is not a multiple of the {slices} slices '
                       'the data axis spans')
  grid = mesh_utils.create_hybrid_device_mesh((sizes[0] // slices, sizes[1]), (slices, 1),
                                              devices=device_list)
  return jax.sharding.Mesh(grid, AXES, axis_types=axis_types)


def mesh_axis(rules, logical: str):
  return dict(rules).get(logical)


def axis_size(mesh: jax.sharding.Mesh, rules, logical: str) -> int:
  """Devices a logical axis is split over (1 when it is replicated)."""
  axis = mesh_axis(rules, logical)
  return mesh.shape[axis] if axis else 1


# Tables sharded over their rows (items, users) have their row count padded to a multiple of
# this (and of the axis size): the same shapes on any mesh whose axis size divides it, so a
# checkpoint written on one mesh restores on another.
TABLE_ROW_MULTIPLE = 128


def table_row_multiple(mesh: jax.sharding.Mesh, rules, logical: str) -> int:
  return math.lcm(TABLE_ROW_MULTIPLE, axis_size(mesh, rules, logical))


@dataclasses.dataclass(frozen=True)
class Layout:
  """A mesh and its logical-axis rules: what model builders need to place what they create."""

  mesh: jax.sharding.Mesh
  rules: tuple

  def shards(self, logical: str) -> int:
    return axis_size(self.mesh, self.rules, logical)

  def row_multiple(self, logical: str) -> int:
    """The row count a table split over `logical` is padded to a multiple of."""
    return table_row_multiple(self.mesh, self.rules, logical)

  def axis(self, logical: str) -> str | None:
    return mesh_axis(self.rules, logical)


def _spec(path, var, mesh, rules) -> P:
  """The mesh layout of one variable from its logical names; an uneven split is an error.

  A variable laid out by construction (a graph's edges, grouped by the shard of their user)
  carries its own `partition` instead.
  """
  metadata = var.get_metadata()
  if metadata.get('partition') is not None:
    return metadata['partition']
  names = metadata.get('out_sharding') or ()
  axes = [mesh_axis(rules, name) if name else None for name in names]
  shape = var.get_value().shape
  for dim, axis in enumerate(axes):
    if axis and shape[dim] % mesh.shape[axis]:
      raise JaxlensError(
          f'parameter {"/".join(map(str, path))} {tuple(shape)}: dimension {dim} '
          f'({names[dim]!r} -> mesh axis {axis!r}) is not divisible by the {mesh.shape[axis]} '
          'devices of that axis; change config.mesh.rules or the mesh')
  return P(*axes)


def place(module: nnx.Module, mesh: jax.sharding.Mesh, rules) -> None:
  """Lays every variable of `module` out by its logical axis names (none: replicated).

  Parameters built without eager sharding (video encoders, weights loaded from a checkpoint)
  get their layout here; ones created sharded already keep it. An abstract module (built by
  `nnx.eval_shape`) gets `jax.ShapeDtypeStruct`s carrying the layout, and nothing is allocated.
  """
  for path, var in nnx.to_flat_state(nnx.state(module)):
    sharding = NamedSharding(mesh, _spec(path, var, mesh, rules))
    value = var.get_value()
    if isinstance(value, jax.ShapeDtypeStruct):
      var.set_value(jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=sharding))
    elif isinstance(value, np.ndarray):  # a host array (a graph's edges): each process sends
      # its own devices' shards (device_put would first check, across the hosts, that every
      # process holds the same array: gigabytes for a graph).
      var.set_value(jax.make_array_from_callback(value.shape, sharding,
                                                 lambda index, value=value: value[index]))
    else:
      var.set_value(jax.device_put(value, sharding))


def batch_sharding(mesh: jax.sharding.Mesh, rules) -> NamedSharding:
  return NamedSharding(mesh, P(mesh_axis(rules, 'batch')))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """This process's rows -> arrays over the whole mesh (identity on one host)."""
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
