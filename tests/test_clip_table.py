"""The device clip table: each batch's ids on the shards that hold their clips, so a gather
reads local rows only and no clip crosses the devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlens.data import clip_table
from jaxlens.data.clips import distinct_items

SHARDS = 8  # tests/conftest.py: 8 CPU devices


class _Store:
  """A `ClipStore` stand-in: item i's clip is filled with i (id 0 blank)."""
  clip_shape = (1, 2, 2, 3)

  def __getitem__(self, ids):
    ids = np.asarray(ids)
    return np.broadcast_to(ids.astype(np.uint8)[:, None, None, None, None],
                           (len(ids),) + self.clip_shape).copy()


@pytest.mark.parametrize('shards,multiple,at_least', [(1, 4, 0), (4, 8, 0), (4, 8, 32),
                                                      (8, 8, 0)])
def test_distinct_items_in_owner_segments(shards, multiple, at_least):
  rng = np.random.default_rng(shards + at_least)
  fields = {'item_ids': rng.integers(0, 40, (6, 7)), 'negative_ids': rng.integers(0, 40, (6, 3))}
  items, index, mask = distinct_items(fields, multiple, at_least, shards)
  real = np.unique(np.concatenate([ids.ravel() for ids in fields.values()]))
  real = real[real != 0]
  assert len(items) % multiple == 0 and len(items) >= at_least
  assert sorted(items[mask == 1]) == sorted(real)  # each distinct item once, unmasked
  segments = items.reshape(shards, -1)
  for shard, segment in enumerate(segments):
    assert np.all(segment % shards == shard), (shard, segment)
  assert set(items) - set(real) <= set(range(shards))  # fillers: repeats, or a shard's own id
  for name, ids in fields.items():
    np.testing.assert_array_equal(np.where(ids != 0, items[index[name]], 0), ids)


def test_a_batch_gathers_its_clips_from_local_rows_only():
  mesh = jax.make_mesh((SHARDS,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
  num_items = 37
  table = clip_table.load(_Store(), num_items, mesh, 'data')
  fields = {'item_ids': np.array([[3, 9, 17, 17, 30], [1, 2, 0, 0, 37]])}
  items, _, _ = distinct_items(fields, SHARDS, shards=SHARDS)
  ids = jax.device_put(jnp.asarray(items, jnp.int32), table.sharding)
  gather = jax.jit(lambda t, ids: clip_table.gather(t, ids, table.sharding))
  np.testing.assert_array_equal(gather(table, ids), _Store()[items])
  compiled = gather.lower(table, ids).compile().as_text()
  for collective in ('all-reduce', 'all-gather', 'all-to-all', 'collective-permute'):
    assert collective not in compiled


def test_evaluation_chunks_come_in_owner_order():
  chunk = np.arange(1, 17)
  ordered = chunk[clip_table.owner_order(chunk, 4)]
  assert np.all(ordered.reshape(4, -1) % 4 == np.arange(4)[:, None])
  assert sorted(ordered) == list(chunk)
