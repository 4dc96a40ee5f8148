"""The graph towers' edge lists, built on the host a block of edges at a time: the same arrays
as built at once, in a third of the host memory (the full MicroLens has 379 million edges)."""

import tracemalloc

import jax
import numpy as np
import pytest

from jaxlens import sharding
from jaxlens.data import synthetic
from jaxlens.models import graph

_RULES = (('users', 'model'), ('batch', 'data'))


def _layout(data: int, model: int) -> sharding.Layout:
  mesh = jax.make_mesh((data, model), ('data', 'model'),
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)
  return sharding.Layout(mesh, _RULES)


def _arrays(built: graph.BipartiteGraph, mean: bool) -> dict[str, np.ndarray]:
  names = ['edge_users', 'edge_items', 'edge_weights'] + (
      ['mean_to_users', 'mean_to_items'] if mean else [])
  return {name: getattr(built, name).get_value() for name in names}


@pytest.mark.parametrize('mesh_shape', [(8, 1), (2, 4)])
@pytest.mark.parametrize('mean', [False, True])
def test_edges_built_in_blocks_are_the_edges_built_at_once(mesh_shape, mean, monkeypatch):
  """Blocks that end inside a user's edges, and edges that do not come user-major (sorted as a
  whole instead), give the same arrays as one block."""
  rng = np.random.default_rng(0)
  users = np.sort(rng.integers(0, 97, 1000)).astype(np.int32)
  items = rng.integers(1, 60, 1000).astype(np.int32)
  layout = _layout(*mesh_shape)
  rows = 100 if mesh_shape[1] == 4 else 97  # user rows: a multiple of the 'users' shards
  want = _arrays(graph.BipartiteGraph(users, items, rows, layout, mean=mean), mean)
  monkeypatch.setattr(graph, 'EDGE_BLOCK', 37)
  shuffled = rng.permutation(len(users))
  for got in (graph.BipartiteGraph(users, items, rows, layout, mean=mean),
              graph.BipartiteGraph(users[shuffled], items[shuffled], rows, layout, mean=mean)):
    for name, array in _arrays(got, mean).items():
      assert array.dtype == want[name].dtype
      np.testing.assert_array_equal(array, want[name], err_msg=name)
  # The weights are A_hat's: 1 / sqrt(deg(u) deg(i)) on real edges, 0 on filler ones.
  real = want['edge_weights'] > 0
  assert real.sum() == len(users)


def test_a_graph_takes_32_bytes_an_edge_at_its_peak(monkeypatch):
  """Its 12 bytes an edge to keep, the interactions listed (8), their sorted items and weights
  (8), and a block's temporaries; built at once it took 76."""
  monkeypatch.setattr(graph, 'EDGE_BLOCK', 1 << 14)
  data = synthetic.full_length_interactions(50_000, 30_000, 10)
  edges = np.count_nonzero(data.train_slots)
  tracemalloc.start()
  try:
    built = graph.training_graph(data, _layout(4, 2))
    kept, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert len(built.edge_users.get_value()) >= edges
  assert kept / edges < 13 and peak / edges < 36
