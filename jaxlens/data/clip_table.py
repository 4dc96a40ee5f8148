"""Every item's clip resident on the devices (`config.data.clip_store`), when they fit.

Host-side decoding of JPEG frames feeds a few hundred clips per second per core, while the
paper's step on one accelerator consumes thousands. MicroLens-100K at 5x224x224 uint8 is 14.9
GB: one H200, or 1.9 GB per chip sharded over a v5e-8. Loaded once, sharded over the mesh's data
axis by item, the table lets batches carry item ids only; the train step and the evaluation's
item encoding gather clips on the device. Each process decodes only the rows its devices hold.
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


def table_bytes(store: ClipStore, num_items: int) -> int:
  return (num_items + 1) * math.prod(store.clip_shape)


def on_device(choice: str, store: ClipStore, num_items: int, mesh: jax.sharding.Mesh,
              data_axis: str | None) -> bool:
  """Whether the clips go to the devices: `choice` 'device'/'host', or by size for 'auto'.

  'auto' picks the devices when each one's rows take at most `DEVICE_MEMORY_SHARE` of its
  memory; backends that report no memory limit (CPU) keep decoding on the host.
  """
  if choice not in STORES:
    raise JaxlensError(f'config.data.clip_store={choice!r}; choose one of {", ".join(STORES)}')
  if choice != 'auto':
    return choice == 'device'
  # This process's own device: another host's answers no memory query.
  limit = (mesh.local_devices[0].memory_stats() or {}).get('bytes_limit')
  shards = mesh.shape[data_axis] if data_axis else 1
  return bool(limit) and table_bytes(store, num_items) / shards <= DEVICE_MEMORY_SHARE * limit


def load(store: ClipStore, num_items: int, mesh: jax.sharding.Mesh,
         data_axis: str | None) -> jax.Array:
  """`(rows, T, H, W, 3)` uint8, row = item id (row 0 blank, rows past `num_items` padding),
  split over `data_axis` by row; each process decodes only its devices' rows."""
  shards = mesh.shape[data_axis] if data_axis else 1
  rows = -(-(num_items + 1) // shards) * shards
  shape = (rows,) + tuple(store.clip_shape)
  sharding = NamedSharding(mesh, P(data_axis))
  logging.info('loading %d clips onto the devices (%.2f GB, %.2f GB per device)', num_items,
               table_bytes(store, num_items) / 1e9, table_bytes(store, num_items) / shards / 1e9)

  def rows_of(index) -> np.ndarray:
    ids = np.arange(rows)[index[0]]
    return store[np.where(ids > num_items, 0, ids)]

  return jax.make_array_from_callback(shape, sharding, rows_of)
