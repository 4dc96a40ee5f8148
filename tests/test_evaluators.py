"""Evaluators against a numpy brute force: groups by target popularity and history length,
cold and warm targets, each with its size."""

import ml_collections
import numpy as np

from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import apply_protocol
from jaxlens.eval import evaluators


def _eval_config(**overrides):
  config = ml_collections.ConfigDict({'ks': (1, 3), 'popularity': {'bins': (0, 1, 2, 4)},
                                      'history_length': {'bins': (0, 4, 6)}})
  config.update(overrides)
  return config


def _brute(ranks, members, ks):
  out = {'users': int(members.sum())}
  for k in ks:
    r = ranks[members]
    out[f'HR@{k}'] = float(np.mean(r <= k)) if len(r) else 0.0
    out[f'NDCG@{k}'] = float(np.mean([1 / np.log2(x + 1) if x <= k else 0 for x in r])) \
        if len(r) else 0.0
    out[f'MRR@{k}'] = float(np.mean([1 / x if x <= k else 0 for x in r])) if len(r) else 0.0
  return out


def _data():
  rng = np.random.default_rng(0)
  histories = [UserHistory(f'u{u}', rng.integers(1, 12, size=rng.integers(5, 9)))
               for u in range(60)]
  return apply_protocol(histories, max_seq_len=6)


def test_groups_match_brute_force():
  data, config = _data(), _eval_config()
  users = evaluators.EvalUsers.of(data, 'test')
  ranks = np.random.default_rng(1).integers(1, 8, size=data.num_users)
  got = evaluators.summarise(ranks, users, config, ('cold', 'warm', 'popularity',
                                                   'history_length'))
  counts = data.train_item_counts()[data.sequences[:, -1]]
  lengths = np.count_nonzero(data.sequences[:, :-1], axis=1)
  assert got['cold'] == _brute(ranks, counts == 0, config.ks)
  assert got['warm'] == _brute(ranks, counts > 0, config.ks)
  for group, (low, high) in zip(got['popularity'], [(0, 1), (1, 2), (2, 4), (4, None)]):
    members = (counts >= low) & (counts < (np.inf if high is None else high))
    assert group == {'group': f'[{low}, {"inf" if high is None else high})', 'low': low,
                     'high': high, **_brute(ranks, members, config.ks)}
  assert sum(g['users'] for g in got['popularity']) == data.num_users
  for group, (low, high) in zip(got['history_length'], [(0, 4), (4, 6), (6, None)]):
    members = (lengths >= low) & (lengths < (np.inf if high is None else high))
    assert group['users'] == members.sum()
    assert group['HR@3'] == _brute(ranks, members, config.ks)['HR@3']
  assert got['HR@1'] == _brute(ranks, np.ones(data.num_users, bool), config.ks)['HR@1']
