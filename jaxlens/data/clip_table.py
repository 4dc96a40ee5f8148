"""Every item's clip resident on the devices (`config.data.clip_store`), when they fit.

Host-side decoding of JPEG frames feeds a few hundred clips per second per core, while the
paper's step on one accelerator consumes thousands. MicroLens-100K at 5x224x224 uint8 is 14.9
GB: one H200, or 1.9 GB per chip sharded over a v5e-8. Loaded once, sharded over the mesh's data
axis by item, the table lets batches carry item ids only; the train step and the evaluation's
item encoding gather clips on the device. Each process decodes only the rows its devices hold.

Item i lives on data shard `i % shards`, at local row `i // shards` (cyclic, so popular items
spread over the shards whatever their ids). The host puts each batch's ids on the shard that
holds their clips (`owner_order`, `clips.distinct_items`), so every device gathers from its own
rows (`gather`). Left to the SPMD partitioner, a gather from a row-sharded table gathers the
whole batch's clips on every device, masked, and all-reduces them: 5.4 GB a step in the paper's
SlowFast-r50 step on a v5e-8.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxlens.data.clips import ClipStore
from jaxlens.errors import JaxlensError

STORES = ('auto', 'host', 'device')
DEVICE_MEMORY_SHARE = 0.25  # 'auto': at most this share of a device's memory for its rows


def table_bytes(clip_shape, num_items: int) -> int:
  return (num_items + 1) * math.prod(clip_shape)


def device_memory(mesh: jax.sharding.Mesh) -> int | None:
  """This process's devices' memory; None where the backend reports no limit (CPU). Another
  host's device answers no memory query."""
  return (mesh.local_devices[0].memory_stats() or {}).get('bytes_limit')


def on_device(choice: str, clip_shape, num_items: int, shards: int,
              memory: int | None) -> bool:
  """Whether the clips go to the devices: `choice` 'device'/'host', or by size for 'auto'.

  'auto' picks the devices when each one's rows take at most `DEVICE_MEMORY_SHARE` of its
  `memory`; devices that report no memory limit (CPU) keep decoding on the host.
  """
  if choice not in STORES:
    raise JaxlensError(f'config.data.clip_store={choice!r}; choose one of {", ".join(STORES)}')
  if choice != 'auto':
    return choice == 'device'
  return bool(memory) and table_bytes(clip_shape, num_items) / shards <= (
      DEVICE_MEMORY_SHARE * memory)


def shards_of(table: jax.Array | jax.ShapeDtypeStruct) -> int:
  """How many data shards the table's rows are split over."""
  axis = table.sharding.spec[0]
  return table.sharding.mesh.shape[axis] if axis else 1


def owner_order(ids: np.ndarray, shards: int) -> np.ndarray:
  """The order that puts `ids` (a multiple of `shards`, as many of each `id % shards`) on the
  shards that hold them: shard d's equal segment gets the ids `== d (mod shards)`."""
  return np.argsort(ids % shards, kind='stable')


def gather(table: jax.Array, ids: jax.Array, layout: NamedSharding) -> jax.Array:
  """`table[ids]` for a table of this layout (its sharding, known outside the trace) and ids
  each on the data shard that holds its row (`owner_order`): every device reads its own rows,
  nothing crosses the devices."""
  axis = layout.spec[0]
  if not axis:
    return table[ids]
  shards = layout.mesh.shape[axis]
  return jax.shard_map(lambda rows, local: rows[local // shards], mesh=layout.mesh,
                       in_specs=(P(axis), P(axis)), out_specs=P(axis))(table, ids)


def load(store: ClipStore, num_items: int, mesh: jax.sharding.Mesh,
         data_axis: str | None) -> jax.Array:
  """`(rows, T, H, W, 3)` uint8 (row 0 blank, rows past `num_items` padding), split over
  `data_axis`, item i on shard `i % shards` at local row `i // shards`; each process decodes
  only its devices' rows."""
  shards = mesh.shape[data_axis] if data_axis else 1
  per_shard = -(-(num_items + 1) // shards)
  shape = (per_shard * shards,) + tuple(store.clip_shape)
  sharding = NamedSharding(mesh, P(data_axis))
  logging.info('loading %d clips onto the devices (%.2f GB, %.2f GB per device)', num_items,
               table_bytes(store.clip_shape, num_items) / 1e9,
               table_bytes(store.clip_shape, num_items) / shards / 1e9)

  def rows_of(index) -> np.ndarray:
    position = np.arange(shape[0])[index[0]]
    ids = (position % per_shard) * shards + position // per_shard
    return store[np.where(ids > num_items, 0, ids)]

  return jax.make_array_from_callback(shape, sharding, rows_of)
