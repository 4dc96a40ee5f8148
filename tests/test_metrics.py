"""Full-ranking HR@K / NDCG@K against a numpy brute force."""

import jax.numpy as jnp
import numpy as np

from jaxlens.eval import ranking


def _brute_force(user_vectors, table, history, targets, num_items, ks):
  out = {f'{m}@{k}': [] for k in ks for m in ('HR', 'NDCG')}
  for u, target in enumerate(targets):
    candidates = [i for i in range(1, num_items + 1)
                  if i == target or i not in set(history[u].tolist())]
    scores = {i: float(table[i] @ user_vectors[u]) for i in candidates}
    order = sorted(candidates, key=lambda i: (-scores[i], i != target))
    rank = order.index(target) + 1
    for k in ks:
      out[f'HR@{k}'].append(float(rank <= k))
      out[f'NDCG@{k}'].append(1 / np.log2(rank + 1) if rank <= k else 0.0)
  return {k: sum(v) for k, v in out.items()}


def test_matches_brute_force():
  rng = np.random.default_rng(0)
  num_items, vocab, users, dim = 40, 48, 16, 4  # rows 41..47 are vocabulary padding
  table = rng.normal(size=(vocab, dim)).astype(np.float32)
  table[num_items + 1:] = 100.0  # would win every ranking if not masked
  table[0] = 100.0
  user_vectors = rng.normal(size=(users, dim)).astype(np.float32)
  history = rng.integers(0, num_items + 1, size=(users, 6))
  targets = rng.integers(1, num_items + 1, size=users)
  history[0, 2] = targets[0]  # a repeat interaction: the target stays a candidate
  got = ranking.ranking_metrics(jnp.asarray(user_vectors), jnp.asarray(table), jnp.asarray(history),
                                jnp.asarray(targets), jnp.ones(users), num_items, (1, 5, 10))
  want = _brute_force(user_vectors, table, history, targets, num_items, (1, 5, 10))
  assert set(got) == set(want)
  for name, value in want.items():
    np.testing.assert_allclose(float(got[name]), value, rtol=1e-5, err_msg=name)


def test_weights_drop_padding_users():
  table = jnp.eye(4)
  got = ranking.ranking_metrics(jnp.eye(4)[:2], table, jnp.zeros((2, 1), int), jnp.array([0, 1]),
                                jnp.array([0.0, 1.0]), 3, (1,))
  assert float(got['HR@1']) == 1.0  # only the second user counts, and it ranks its target first
