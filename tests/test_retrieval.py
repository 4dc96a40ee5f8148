"""The sharded exact top K against a numpy brute force: on meshes that split users, items or
both, with excluded items, fewer candidates than K, ties, and a pair-scoring tower's `score`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlens.serving import retrieval

RULES = (('batch', 'data'), ('items', 'model'))


def _mesh(data, model):
  return jax.make_mesh((data, model), ('data', 'model'), devices=jax.devices()[:data * model],
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)


def _numpy_top_k(scores, exclude, k, num_items):
  """Brute force: every candidate row sorted by score (stable: the lower row first on ties)."""
  scores = scores.astype(np.float64).copy()
  scores[:, 0] = -np.inf
  scores[:, num_items + 1:] = -np.inf
  for user, rows in enumerate(exclude):
    scores[user, rows[rows > 0]] = -np.inf
  order = np.argsort(-scores, axis=1, kind='stable')[:, :k]
  return np.take_along_axis(scores, order, axis=1), order


def _dot(queries, items):
  return jnp.einsum('pd,nd->pn', queries, items)


@pytest.mark.parametrize('data, model', [(1, 1), (8, 1), (2, 4), (1, 8)])
def test_top_k_matches_brute_force(data, model):
  rng = np.random.default_rng(data * 10 + model)
  users, num_items, dim, k = 16, 37, 5, 7
  items = rng.normal(size=(num_items + 1, dim)).astype(np.float32)
  items[0] = 0
  queries = rng.normal(size=(users, dim)).astype(np.float32)
  exclude = rng.integers(0, num_items + 1, size=(users, 6)).astype(np.int32)
  scores, rows = jax.jit(lambda q, t, e: retrieval.top_k(
      _dot, q, t, e, k=k, num_items=num_items, mesh=_mesh(data, model), rules=RULES))(
          queries, jnp.asarray(items), exclude)
  want_scores, want_rows = _numpy_top_k(queries @ items.T, exclude, k, num_items)
  np.testing.assert_array_equal(np.asarray(rows), want_rows)
  np.testing.assert_allclose(np.asarray(scores), want_scores, rtol=1e-5, atol=1e-5)


def test_fewer_candidates_than_k_end_in_minus_infinity_and_ties_keep_the_lower_row():
  items = np.zeros((9, 2), np.float32)
  items[1:] = [[1, 0], [2, 0], [2, 0], [0, 1], [2, 0], [0, 0], [3, 0], [1, 0]]
  queries = np.asarray([[1, 0], [1, 0]], np.float32)
  # User 1 has seen all but items 2 and 5.
  exclude = np.asarray([[0] * 6, [1, 3, 4, 6, 7, 8]], np.int32)
  scores, rows = retrieval.top_k(_dot, jnp.asarray(queries), jnp.asarray(items),
                                 jnp.asarray(exclude), k=4, num_items=8, mesh=_mesh(2, 4),
                                 rules=RULES)
  np.testing.assert_array_equal(np.asarray(rows)[0], [7, 2, 3, 5])  # 3.0, then 2.0 x3 by row
  np.testing.assert_array_equal(np.asarray(rows)[1, :2], [2, 5])
  assert np.all(np.isneginf(np.asarray(scores)[1, 2:]))


def test_a_pair_scoring_score_runs_per_item_block():
  """A non-linear score of (user, item) pairs, as NFM's, gives the brute force's ranking."""
  rng = np.random.default_rng(3)
  items = rng.normal(size=(41, 4)).astype(np.float32)
  queries = rng.normal(size=(8, 4)).astype(np.float32)
  score = lambda q, t: jnp.sum(jax.nn.relu(q[:, None, :] * t[None, :, :] + 0.1), -1)
  exclude = np.zeros((8, 1), np.int32)
  scores, rows = retrieval.top_k(score, jnp.asarray(queries), jnp.asarray(items),
                                 jnp.asarray(exclude), k=5, num_items=40, mesh=_mesh(2, 4),
                                 rules=RULES)
  want = np.sum(np.maximum(queries[:, None] * items[None] + 0.1, 0), -1)
  want_scores, want_rows = _numpy_top_k(want, exclude, 5, 40)
  np.testing.assert_array_equal(np.asarray(rows), want_rows)
  np.testing.assert_allclose(np.asarray(scores), want_scores, rtol=1e-5)
