"""The CF towers' forward passes against numpy implementations written from the reference's
code (`Code/IDRec/*/REC/model/IdModel/*.py`): LightGCN's propagation on a hand-written graph,
NFM and DeepFM on one user and three candidates (their factorised full-ranking scores included),
DSSM's towers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlens import sharding
from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import apply_protocol
from jaxlens.eval.evaluation import eval_view
from jaxlens.models.user_towers.deepfm import DeepFM
from jaxlens.models.user_towers.dssm import DSSM
from jaxlens.models.user_towers.lightgcn import LightGCN
from jaxlens.models.user_towers import nfm
from jaxlens.models.user_towers.nfm import NFM

D = 8
# Four users; train = s[:-2]. User 0 repeats item 1 (two edges), item 10 is only a test target
# (degree 0), users 1-3 share items.
SEQUENCES = [[1, 2, 3, 1, 4, 5, 6], [2, 3, 7, 8, 9], [3, 3, 4, 2, 1, 7], [9, 8, 1, 2, 3, 10]]


def _numpy_lightgcn(train_slots, users, items, layers):
  """Dense A_hat over [users; items] with duplicate edges, degree 0 read as 1 (reference)."""
  num_users, vocab = users.shape[0], items.shape[0]
  adjacency = np.zeros((num_users + vocab,) * 2)
  for user, row in enumerate(train_slots):
    for item in row[row != 0]:
      adjacency[user, num_users + item] += 1
      adjacency[num_users + item, user] += 1
  degree = adjacency.sum(1)
  norm = 1 / np.sqrt(np.where(degree == 0, 1, degree))
  a_hat = norm[:, None] * adjacency * norm[None]
  embeddings = [np.concatenate([users, items])]
  for _ in range(layers):
    embeddings.append(a_hat @ embeddings[-1])
  final = np.mean(embeddings, axis=0)
  return final[:num_users], final[num_users:]


RULES = (('users', 'model'), ('embed', None))


def _mesh(shape=(1, 1)):
  return jax.make_mesh(shape, ('data', 'model'), devices=jax.devices()[:np.prod(shape)],
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)


@pytest.mark.parametrize('mesh_shape, layers', [((1, 1), 1), ((4, 2), 2)])
def test_lightgcn_propagation_matches_numpy(mesh_shape, layers):
  data = apply_protocol([UserHistory(f'u{i}', np.asarray(s)) for i, s in enumerate(SEQUENCES)],
                        max_seq_len=6, min_seq_len=5)
  mesh = _mesh(mesh_shape)
  with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
    tower = LightGCN(data, D, layers=layers, layout=sharding.Layout(mesh, RULES),
                     rngs=nnx.Rngs(0))
  users = np.asarray(tower.user_table.embedding[...])
  assert users.shape[0] % mesh_shape[1] == 0 and not users[data.num_users:].any()
  items = np.random.default_rng(0).normal(size=(data.num_items + 1, D)).astype(np.float32)
  items[0] = 0
  tables = jax.jit(tower.propagate)(jnp.asarray(items))
  want_users, want_items = _numpy_lightgcn(data.train_slots, users, items, layers)
  np.testing.assert_allclose(tables.users, want_users, atol=1e-5)
  np.testing.assert_allclose(tables.items, want_items, atol=1e-5)
  user_ids = jnp.array([3, 0])
  np.testing.assert_allclose(tower(None, None, user_ids, tables.users)[:, 0],
                             want_users[[3, 0]], atol=1e-5)


def _fields(rng, length=4):
  """One user's history with a padding slot, three candidates."""
  history = rng.normal(size=(1, length, D)).astype(np.float32)
  history[0, 0] = 0
  mask = np.array([[False] + [True] * (length - 1)])
  return history, mask, rng.normal(size=(3, D)).astype(np.float32)


def _bi_interaction(fields):
  return 0.5 * (np.square(fields.sum(0)) - np.square(fields).sum(0))


def _randomise(module, rng):
  """Every parameter and statistic drawn, so that none hides behind an identity init."""
  for path, var in nnx.to_flat_state(nnx.state(module, nnx.Any(nnx.Param, nnx.BatchStat))):
    value = rng.uniform(0.5, 1.5, var.shape) if path[-1] == 'var' else rng.normal(size=var.shape)
    var.set_value(jnp.asarray(value, jnp.float32))


def _arrays(module) -> dict[str, np.ndarray]:
  return {'/'.join(map(str, path)): np.asarray(var.get_value())
          for path, var in nnx.to_flat_state(nnx.state(module, nnx.Any(nnx.Param, nnx.BatchStat)))}


@pytest.mark.parametrize('output_relu', [False, True])
def test_nfm_matches_numpy_and_its_factorised_ranking(output_relu):
  rng = np.random.default_rng(1)
  history, mask, candidates = _fields(rng)
  model = NFM(D, output_relu=output_relu, rngs=nnx.Rngs(0))
  _randomise(model, rng)
  model.output_layer.bias[...] = jnp.array([-3.0])  # some pairs score below 0 before a ReLU
  p = _arrays(model)

  def numpy_scores(statistics):
    pooled = np.stack([_bi_interaction(np.concatenate([history[0], c[None]])) for c in
                       candidates])
    mean, var = statistics(pooled)
    x = (pooled - mean) / np.sqrt(var + 1e-5) * p['norm/scale'] + p['norm/bias']
    hidden = np.maximum(x @ p['hidden_layer/kernel'] + p['hidden_layer/bias'], 0)
    out = (hidden @ p['output_layer/kernel'] + p['output_layer/bias'])[:, 0]
    return np.maximum(out, 0) if output_relu else out

  queries = jax.tree.map(lambda q: q[:, 0], model(jnp.asarray(history), jnp.asarray(mask)))
  training = model.score(queries, jnp.asarray(candidates))[0]  # BatchNorm on the 3 pairs
  np.testing.assert_allclose(training, numpy_scores(lambda x: (x.mean(0), x.var(0))), atol=1e-4)
  model = eval_view(model)
  p = _arrays(model)  # training updated the running statistics
  want = numpy_scores(lambda x: (p['norm/mean'], p['norm/var']))
  factorised = model.score(queries, jnp.asarray(candidates))[0]
  per_pair = model.score_each(queries, jnp.asarray(candidates)[None])[0]
  np.testing.assert_allclose(factorised, want, atol=1e-4)
  np.testing.assert_allclose(per_pair, want, atol=1e-4)
  assert (want < 0).any() != output_relu and (want > 0).any()  # the default keeps negatives


def test_nfm_ranks_items_in_blocks_as_pair_by_pair():
  """Full ranking runs items through the network `nfm.ITEM_BLOCK` at a time: more than two
  blocks, the last one partial, equal every pair's score."""
  rng = np.random.default_rng(2)
  model = NFM(D, rngs=nnx.Rngs(0))
  _randomise(model, rng)
  model = eval_view(model)
  history = rng.normal(size=(5, 4, D)).astype(np.float32)
  candidates = jnp.asarray(rng.normal(size=(2 * nfm.ITEM_BLOCK + 7, D)), jnp.float32)
  queries = jax.tree.map(lambda q: q[:, 0], model(jnp.asarray(history), jnp.ones((5, 4), bool)))
  factorised = jax.jit(model.score)(queries, candidates)
  assert factorised.shape == (5, candidates.shape[0])
  np.testing.assert_allclose(factorised, model.score_each(queries, candidates[None]),
                             rtol=1e-5, atol=1e-4)


def test_nfm_training_scores_from_pair_moments_equal_every_pair_through_the_network():
  """Training scores the batch's queries against every candidate without making the pooled
  pairs: BatchNorm's batch statistics from per-query and per-candidate moments. Scores, the
  updated running statistics and every gradient equal those of each pair through the network
  (BatchNorm over the materialised pairs), with candidates over more than two item blocks."""
  rng = np.random.default_rng(4)
  model = NFM(D, rngs=nnx.Rngs(0))
  _randomise(model, rng)
  history = jnp.asarray(rng.normal(size=(5, 4, D)), jnp.float32)
  mask = jnp.asarray(rng.random((5, 4)) < 0.8).at[:, 0].set(True)
  candidates = jnp.asarray(rng.normal(size=(2 * nfm.ITEM_BLOCK + 7, D)), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(5, candidates.shape[0])), jnp.float32)

  def loss(model, history, candidates, scorer):
    queries = jax.tree.map(lambda q: q[:, 0], model(history, mask))
    scores = (model.score(queries, candidates) if scorer == 'factorised'
              else model.score_each(queries, candidates[None]))
    return jnp.sum(scores * weights), scores

  results = {}
  for scorer in ('factorised', 'per_pair'):
    copy = nnx.clone(model)
    grad = nnx.grad(loss, argnums=(0, 1, 2), has_aux=True)
    (grads, history_grad, candidate_grad), scores = grad(copy, history, candidates, scorer)
    results[scorer] = (scores, _arrays(copy), jax.tree.leaves(nnx.state(grads, nnx.Param)),
                       history_grad, candidate_grad)
  (scores, state, grads, history_grad, candidate_grad) = results['factorised']
  (want_scores, want_state, want_grads, want_history, want_candidate) = results['per_pair']
  np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)
  for name in ('norm/mean', 'norm/var'):
    assert not np.allclose(state[name], _arrays(model)[name])  # training updated them
    np.testing.assert_allclose(state[name], want_state[name], rtol=1e-5, atol=1e-6)
  for got, want in zip(grads, want_grads, strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(history_grad, want_history, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(candidate_grad, want_candidate, rtol=1e-4, atol=1e-5)


def test_deepfm_matches_numpy_and_its_factorised_ranking():
  rng = np.random.default_rng(2)
  history, mask, candidates = _fields(rng)
  model = DeepFM(D, history.shape[1], rngs=nnx.Rngs(0))
  _randomise(model, rng)
  kernel, out_kernel = np.asarray(model.deep.kernel[...]), np.asarray(model.output_layer.kernel)
  out_bias = np.asarray(model.output_layer.bias)
  want = []
  for c in candidates:
    fields = np.concatenate([history[0], c[None]])
    deep = np.maximum(fields.reshape(-1) @ kernel, 0) @ out_kernel + out_bias
    want.append(_bi_interaction(fields).sum() + deep[0])
  queries = jax.tree.map(lambda q: q[:, 0], model(jnp.asarray(history), jnp.asarray(mask)))
  np.testing.assert_allclose(model.score(queries, jnp.asarray(candidates))[0], want, atol=1e-4)
  np.testing.assert_allclose(model.score_each(queries, jnp.asarray(candidates)[None])[0], want,
                             atol=1e-4)


def test_dssm_towers_match_numpy():
  rng = np.random.default_rng(3)
  with jax.set_mesh(_mesh()), nnx.logical_axis_rules(RULES):
    model = eval_view(DSSM(5, D, mlp_widths=(6, 4), rngs=nnx.Rngs(0)))
  _randomise(model, rng)
  p = _arrays(model)

  def mlp(x, tower):
    for i in range(2):
      x = x @ p[f'{tower}/layers/{i}/kernel'] + p[f'{tower}/layers/{i}/bias']
      x = (x - p[f'{tower}/norms/{i}/mean']) / np.sqrt(p[f'{tower}/norms/{i}/var'] + 1e-5)
      x = np.tanh(x * p[f'{tower}/norms/{i}/scale'] + p[f'{tower}/norms/{i}/bias'])
    return x

  users = np.array([4, 1])
  queries = model(None, None, jnp.asarray(users))[:, 0]
  np.testing.assert_allclose(queries, mlp(p['user_table/embedding'][users], 'user_mlp'),
                             atol=1e-5)
  items = rng.normal(size=(3, D)).astype(np.float32)
  ids = np.array([2, 0, 7])
  want_items = mlp(items, 'item_mlp') * (ids != 0)[:, None]  # padding stays zero
  got_items = model.items(jnp.asarray(items), jnp.asarray(ids))
  np.testing.assert_allclose(got_items, want_items, atol=1e-5)
  np.testing.assert_allclose(model.score(queries, got_items), queries @ want_items.T, atol=1e-5)
