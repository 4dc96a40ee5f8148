"""Full-ranking ranks and HR@K / NDCG@K against a numpy brute force, ties counted against the
target, non-finite scores as misses."""

import jax.numpy as jnp
import numpy as np

from jaxlens.eval import metrics, ranking


def _brute_force_ranks(scores, history, targets, num_items):
  """1 + the candidates (items 1..num_items, not in history, not the target) scoring >= it."""
  ranks = []
  for u, target in enumerate(targets):
    if not np.isfinite(scores[u, target]):
      ranks.append(num_items + 1)
      continue
    others = [i for i in range(1, num_items + 1)
              if i != target and i not in set(history[u].tolist())]
    ranks.append(1 + sum(1 for i in others
                         if np.isnan(scores[u, i]) or scores[u, i] >= scores[u, target]))
  return np.array(ranks)


def _ranks(scores, history, targets, num_items):
  return np.asarray(ranking.target_ranks(jnp.asarray(scores), jnp.asarray(targets),
                                         jnp.asarray(history), num_items))


def test_ranks_match_brute_force_with_ties_and_repeats():
  rng = np.random.default_rng(0)
  num_items, vocab, users = 40, 48, 16  # rows 41..47 are vocabulary padding
  scores = np.round(rng.normal(size=(users, vocab)), 1).astype(np.float32)  # many ties
  scores[:, num_items + 1:] = 100.0  # would win every ranking if not masked
  scores[:, 0] = 100.0
  history = rng.integers(0, num_items + 1, size=(users, 6))
  targets = rng.integers(1, num_items + 1, size=users)
  history[0, 2] = targets[0]  # a repeat interaction: the target stays a candidate
  want = _brute_force_ranks(scores, history, targets, num_items)
  np.testing.assert_array_equal(_ranks(scores, history, targets, num_items), want)
  assert (want > 1).any() and len(np.unique(scores[:, 1:num_items + 1])) < users * num_items


def test_constant_scores_rank_every_target_last():
  num_items = 30
  ranks = _ranks(np.zeros((4, 31), np.float32), np.zeros((4, 1), int), np.array([1, 5, 9, 30]),
                 num_items)
  np.testing.assert_array_equal(ranks, num_items)  # every other item ties with the target
  assert metrics.means(ranks, (10, 20)) == {'HR@10': 0.0, 'NDCG@10': 0.0, 'HR@20': 0.0,
                                            'NDCG@20': 0.0}


def test_non_finite_scores_are_misses():
  """A NaN user vector (a diverged model) gives NaN scores: every target is a miss."""
  user_vectors = jnp.full((3, 4), jnp.nan)
  table = jnp.asarray(np.random.default_rng(1).normal(size=(21, 4)), jnp.float32)
  scores = np.asarray(user_vectors @ table.T)
  ranks = _ranks(scores, np.zeros((3, 1), int), np.array([1, 2, 3]), 20)
  np.testing.assert_array_equal(ranks, 21)
  assert metrics.means(ranks, (10,))['HR@10'] == 0.0
  scores = np.asarray(table[:1] @ table.T).repeat(2, axis=0)  # a finite target, one NaN item
  scores[1, 7] = np.nan
  with_nan = _ranks(scores, np.zeros((2, 1), int), np.array([3, 3]), 20)
  assert with_nan[1] == with_nan[0] + (scores[0, 7] < scores[0, 3])  # NaN counts as above


def test_metrics_from_ranks():
  ranks = np.array([1, 3, 10, 11, 21])
  got = metrics.means(ranks, (10,), mrr=True)
  np.testing.assert_allclose(got['HR@10'], 3 / 5)
  np.testing.assert_allclose(got['NDCG@10'], (1 + 1 / np.log2(4) + 1 / np.log2(11)) / 5)
  np.testing.assert_allclose(got['MRR@10'], (1 + 1 / 3 + 1 / 10) / 5)
