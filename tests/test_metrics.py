"""Full-ranking ranks and HR@K / NDCG@K against a numpy brute force, ties counted against the
target, non-finite scores as misses; a batch ranked in blocks of users as a whole."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlens.eval import metrics, ranking
from jaxlens.train import aot, configuration
from tests import helpers


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


def _blocked_ranks(queries, table, targets, history, num_items, blocks):
  """Ranks of `{'u': queries}` (a tree, as some towers' queries are) against `table`, in
  `blocks` blocks of users."""
  rank = lambda q, t, h: ranking.target_ranks(q['u'] @ table.T, t, h, num_items)
  return ranking.blockwise(rank, ({'u': queries}, targets, history), blocks)


@pytest.mark.parametrize('blocks', [1, 2, 8, 32])
def test_a_batch_ranked_in_blocks_of_users_ranks_as_a_whole(blocks):
  rng = np.random.default_rng(2)
  num_items, users = 60, 32
  queries = np.round(rng.normal(size=(users, 3)), 1).astype(np.float32)
  table = np.round(rng.normal(size=(64, 3)), 1).astype(np.float32)  # many ties
  table[9] = np.nan  # a NaN candidate for every user
  history = rng.integers(0, num_items + 1, size=(users, 5))
  targets = rng.integers(1, num_items + 1, size=users)
  history[:, 1] = history[:, 0]  # repeats within the history
  want = _brute_force_ranks(queries @ table.T, history, targets, num_items)
  got = _blocked_ranks(jnp.asarray(queries), jnp.asarray(table), jnp.asarray(targets),
                       jnp.asarray(history), num_items, blocks)
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize('users,vocab,shards,platform,want', [
    (1024, 19_100, 1, 'cpu', 8),  # 219 users fit: 5 blocks would do, 8 divide 1024
    (1024, 19_100, 8, 'cpu', 1),  # 128 users a device
    (1024, 1_142_529, 8, 'cpu', 64),  # 3 users fit: 2 users a block on each device
    (1024, 2**23, 4, 'cpu', 256),  # not one user fits: one at a time
    (1000, 30_000, 2, 'cpu', 4),  # 139 users fit: blocks of 125 on each device
    (1024, 1_142_529, 4, 'tpu', 1),  # 256 users a chip: 1.2 GB of scores, at once
    (1024, 1_142_529, 1, 'gpu', 4),  # 469 users fit in 2 GiB: blocks of 256
])
def test_user_blocks_keep_each_device_within_its_share_of_scores(users, vocab, shards, platform,
                                                                 want):
  blocks = ranking.user_blocks(users, vocab, shards, platform)
  per_device = users // shards // blocks
  budget = ranking.SCORES_PER_BLOCK.get(platform, ranking.ACCELERATOR_SCORES_PER_BLOCK)
  assert blocks == want and users // shards % blocks == 0
  assert per_device * vocab <= budget or per_device == 1


def test_blocks_keep_each_device_to_its_own_users():
  """Split over 8 devices, every block takes each device's share from the rows it holds: the
  ranking needs no collective at all."""
  mesh = jax.make_mesh((8,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
  rows = jax.sharding.NamedSharding(mesh, jax.P('data'))
  rng = np.random.default_rng(3)
  queries, targets = rng.normal(size=(64, 4)).astype(np.float32), rng.integers(1, 30, 64)
  history, table = rng.integers(0, 30, (64, 3)), rng.normal(size=(32, 4)).astype(np.float32)
  fn = jax.jit(lambda q, t, h: _blocked_ranks(q, jnp.asarray(table), t, h, 30, 4),
               in_shardings=(rows, rows, rows), out_shardings=rows)
  args = [jax.device_put(x, rows) for x in (queries, targets, history)]
  hlo = fn.lower(*args).compile().as_text()
  assert not [op for op in ('all-gather', 'all-reduce', 'all-to-all', 'collective-permute')
              if op in hlo]
  np.testing.assert_array_equal(fn(*args), _brute_force_ranks(queries @ table.T, history,
                                                              targets, 30))


def test_evaluation_scores_a_block_of_users_at_a_time(monkeypatch):
  """The ranking's temporaries hold one block's scores, not a whole batch's against every item
  (on a CPU those were paged in afresh at each batch; on a chip they need not fit)."""
  monkeypatch.setitem(ranking.SCORES_PER_BLOCK, 'cpu', 2**16)  # 3 users of 20,000 items
  config = configuration.prepare(helpers.load_config('sasrec_id', 'cpu'), jax.devices()[:1])
  config.eval.batch_size = 256
  data = aot.worst_case_data(config, 2000, 20_000)
  report = aot.compile_steps(config, data, devices=jax.devices()[:1])[-1]
  whole_batch = config.eval.batch_size * (data.num_items + 1) * 4  # 20 MB of scores
  assert report.function == 'ranking (one batch)'
  assert report.memory['temp'] < whole_batch / 2  # 6.4 MB, 46 MB at once
  # XLA counts a loop's body once; the report counts every block's scores.
  assert report.flops >= 2 * config.eval.batch_size * data.num_items * config.model.hidden
