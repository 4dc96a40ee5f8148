"""Losses against naive numpy implementations, written as loops from the reference's in-batch
softmax (`Model.forward` in `Code/VideoRec/SASRec/model/model.py`)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlens.data import pipeline, tasks
from jaxlens.models.user_towers import UserTower
from jaxlens.train import losses

SEQUENCE = tasks.get('sequence')


def _toy_batch(seed=0, batch=4, slots=6, dim=5, vocab=12):
  rng = np.random.default_rng(seed)
  ids = rng.integers(1, vocab, size=(batch, slots))
  for u, pad in enumerate([0, 2, 3, slots]):  # left padding; the last user is empty
    ids[u, :pad] = 0
  ids[2, -1] = ids[0, 3]  # the same item in two users' windows
  states = rng.normal(size=(batch, slots - 1, dim)).astype(np.float32)
  table = rng.normal(size=(vocab, dim)).astype(np.float32)
  table[0] = 0
  log_pop = np.log(rng.uniform(0.01, 1, size=vocab)).astype(np.float32)
  log_pop[0] = 0
  return ids, states, table, log_pop


def _inputs(ids, states, table, log_pop, negatives=None, group=0, padded_table=None):
  """Every valid position plus filler rows, which must not count."""
  positions = losses.Positions.of(jnp.asarray(SEQUENCE.query_mask(ids)),
                                  int((ids[:, :-1] != 0).sum()) + 3, SEQUENCE.target_offset(6))
  tower = UserTower()
  full = table if padded_table is None else padded_table
  return losses.LossInputs(
      queries=jnp.asarray(states)[positions.users, positions.steps], positions=positions,
      slot_ids=jnp.asarray(ids), slot_embs=jnp.asarray(table[ids]),
      negative_embs=None if negatives is None else jnp.asarray(table[negatives]),
      log_popularity=jnp.asarray(log_pop), num_items=len(table) - 1, score=tower.score,
      score_each=tower.score_each, table=lambda: jnp.asarray(full), negatives_group=group)


def _naive_in_batch(ids, states, table, log_pop, group=0):
  batch, slots = ids.shape
  columns = ids.reshape(-1)
  total, count = 0.0, 0
  for u in range(batch):
    own = set(ids[u].tolist()) | {0}
    for t in range(slots - 1):
      if ids[u, t] == 0:  # log_mask: input slot is padding
        continue
      label = u * slots + t + 1
      logits = []
      for c, item in enumerate(columns):
        value = float(states[u, t] @ table[item]) - log_pop[item]
        other_group = group and (c // slots) // group != u // group
        if (item in own or other_group) and c != label:
          value = -1e4
        logits.append(value)
      logits = np.array(logits, np.float64)
      total += np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[label]
      count += 1
  return total, count


@pytest.mark.parametrize('group', [0, 2, 3])
def test_in_batch_matches_reference_loops(group):
  """group 0: negatives from the whole batch; else from each row's group of `group` rows (the
  reference's per-GPU softmax)."""
  ids, states, table, log_pop = _toy_batch()
  total, count = losses.in_batch_softmax(_inputs(ids, states, table, log_pop, group=group))
  want_total, want_count = _naive_in_batch(ids, states, table, log_pop, group)
  assert int(count) == want_count
  np.testing.assert_allclose(float(total), want_total, rtol=1e-5)


def test_groups_change_the_loss():
  ids, states, table, log_pop = _toy_batch()
  whole = losses.in_batch_softmax(_inputs(ids, states, table, log_pop))[0]
  grouped = losses.in_batch_softmax(_inputs(ids, states, table, log_pop, group=2))[0]
  assert float(grouped) < float(whole)  # fewer negatives, lower loss


def test_full_softmax_matches_numpy():
  ids, states, table, log_pop = _toy_batch(seed=1)
  num_items = len(table) - 1
  padded = np.concatenate([table, np.full((4, table.shape[1]), 100.0, np.float32)])  # vocab pad
  total, count = losses.full_softmax(_inputs(ids, states, table, log_pop, padded_table=padded))
  want, n = 0.0, 0
  for u in range(ids.shape[0]):
    for t in range(ids.shape[1] - 1):
      if ids[u, t] == 0:
        continue
      logits = table[1:num_items + 1] @ states[u, t]
      want += np.log(np.exp(logits).sum()) - logits[ids[u, t + 1] - 1]
      n += 1
  assert int(count) == n
  np.testing.assert_allclose(float(total), want, rtol=1e-5)


def test_bce_against_sampled_negatives_that_avoid_own_items():
  ids, states, table, log_pop = _toy_batch(seed=2)
  mask = SEQUENCE.query_mask(ids)
  candidates = pipeline.negative_candidates(np.random.default_rng(0), mask.shape, num_items=11)
  negatives = pipeline.sample_negatives(candidates, ids, mask)
  assert negatives.shape == (4, 5)
  for u in range(ids.shape[0]):
    assert not set(negatives[u][mask[u]].tolist()) & set(ids[u].tolist())
    assert (negatives[u][~mask[u]] == 0).all()
  total, count = losses.bce(_inputs(ids, states, table, log_pop, negatives=negatives))
  pos = np.einsum('bld,bld->bl', states, table[ids[:, 1:]])
  neg = np.einsum('bld,bld->bl', states, table[negatives])
  want = (np.log1p(np.exp(-pos)) + np.log1p(np.exp(neg)))[mask].sum()
  assert int(count) == mask.sum()
  np.testing.assert_allclose(float(total), want, rtol=1e-5)
