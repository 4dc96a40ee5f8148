"""Losses against naive numpy implementations, written from reference section 2.2 as loops."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxlens.train import losses


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


def _positions(ids):
  """All valid positions plus filler rows, which must not count."""
  return losses.Positions.of(jnp.asarray(ids), int((ids[:, :-1] != 0).sum()) + 3)


def _naive_in_batch(ids, states, table, log_pop):
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
        if item in own and c != label:
          value = -1e4
        logits.append(value)
      logits = np.array(logits, np.float64)
      total += np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[label]
      count += 1
  return total, count


def test_in_batch_matches_reference_loops():
  ids, states, table, log_pop = _toy_batch()
  total, count = losses.in_batch_softmax(jnp.asarray(states), jnp.asarray(table[ids]),
                                         jnp.asarray(ids), jnp.asarray(log_pop),
                                         _positions(ids))
  want_total, want_count = _naive_in_batch(ids, states, table, log_pop)
  assert int(count) == want_count
  np.testing.assert_allclose(float(total), want_total, rtol=1e-5)


def test_full_softmax_matches_numpy():
  ids, states, table, _ = _toy_batch(seed=1)
  num_items = len(table) - 1
  padded = np.concatenate([table, np.full((4, table.shape[1]), 100.0, np.float32)])  # vocab pad
  total, count = losses.full_softmax(jnp.asarray(states), jnp.asarray(padded), jnp.asarray(ids),
                                     num_items, _positions(ids))
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


def test_bce_negatives_avoid_own_items():
  ids, states, table, _ = _toy_batch(seed=2)
  negatives = losses.sample_negatives(jax.random.key(0), jnp.asarray(ids), num_items=11)
  assert negatives.shape == (4, 5)
  for u in range(ids.shape[0]):
    assert not set(np.asarray(negatives[u]).tolist()) & set(ids[u].tolist())
  total, count = losses.bce(jnp.asarray(states), jnp.asarray(table[ids]),
                            jnp.asarray(table[np.asarray(negatives)]), _positions(ids))
  mask = ids[:, :-1] != 0
  pos = np.einsum('bld,bld->bl', states, table[ids[:, 1:]])
  neg = np.einsum('bld,bld->bl', states, table[np.asarray(negatives)])
  want = (np.log1p(np.exp(-pos)) + np.log1p(np.exp(neg)))[mask].sum()
  assert int(count) == mask.sum()
  np.testing.assert_allclose(float(total), want, rtol=1e-5)
