"""The VIDRec baselines DSSM_ID+V (VBPR), MMGCN and GRCN: forward passes against numpy written
from the papers on a hand-written 4-user, 6-item graph, VBPR's scores and bias-free evaluation,
one train step on a (4, 2) mesh against one device, a short `jaxlens.main` run."""

import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlens import sharding
from jaxlens.data import synthetic
from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import apply_protocol
from jaxlens.errors import JaxlensError
from jaxlens.eval.evaluation import eval_view
from jaxlens.models.tables import padded_rows
from jaxlens.models.item_towers.features import standardised
from jaxlens.models.user_towers.grcn import GRCN
from jaxlens.models.user_towers.mmgcn import MMGCN
from jaxlens.train import configuration, loop, optimizer
from tests import helpers
from tests.test_sharding import TOWER_MESHES, _assert_meshes_agree

pytestmark = pytest.mark.slow  # trains the VIDRec models on several meshes

D = 8
# Four users, six items; train = s[:-2]. User 0 repeats item 1 (two edges), item 6 is only ever
# a valid or test target (no edge), user 2 repeats item 3.
SEQUENCES = [[1, 2, 3, 1, 4, 6], [2, 3, 5, 5, 4], [3, 3, 4, 2, 1, 6], [5, 4, 1, 2, 3, 6]]
RULES = (('users', 'model'), ('items', 'model'), ('embed', None))
TOLERANCE = 1e-5


def _graph_data():
  data = apply_protocol([UserHistory(f'u{i}', np.asarray(s)) for i, s in enumerate(SEQUENCES)],
                        max_seq_len=6, min_seq_len=5)
  assert (data.num_users, data.num_items) == (4, 6)
  return data


def _adjacency(data, vocab):
  """Dense counts A[u, i] of the training interactions, repeats counted."""
  adjacency = np.zeros((data.num_users, vocab))
  for user, row in enumerate(data.train_slots):
    for item in row[row != 0]:
      adjacency[user, item] += 1
  assert adjacency.max() == 2 and not adjacency[:, 6].any()
  return adjacency


def _tower(cls, mesh_shape, **kwargs):
  mesh = jax.make_mesh(mesh_shape, ('data', 'model'), devices=jax.devices()[:np.prod(mesh_shape)],
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)
  data = _graph_data()
  with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
    layout = sharding.Layout(mesh, RULES)
    tower = cls(data, D, layout=layout, rngs=nnx.Rngs(0), **kwargs)
  rng = np.random.default_rng(0)
  params = {}
  for path, var in nnx.to_flat_state(nnx.state(tower, nnx.Param)):
    value = rng.normal(size=var.shape).astype(np.float32)  # biases too, not their zero init
    if path[-1] == 'embedding':  # real rows only: padding rows stay zero as built
      value[np.all(np.asarray(var.get_value()) == 0, axis=-1)] = 0
    var.set_value(jnp.asarray(value))
    params['/'.join(map(str, path))] = value
  rows = padded_rows(data.num_items + 1, layout.row_multiple('items'))
  items = rng.normal(size=(rows, D))
  items[0] = 0
  return data, tower, params, items.astype(np.float32)


def _normalize(x):
  norm = np.linalg.norm(x, axis=-1, keepdims=True)
  return x / np.where(norm > 0, norm, 1)


def _leaky(x):
  return np.where(x > 0, x, 0.01 * x)


def _rows_over(weights):
  """Each row of `weights` divided by its sum (rows without edges stay zero)."""
  total = weights.sum(axis=1, keepdims=True)
  return weights / np.where(total > 0, total, 1)


def _dropped(to_users, to_items, kept):
  """Messages with the items of `kept` (per item: 0 if dropped, else the dropout's 1 / (1 - p);
  None: none dropped) left out: to users rescaled, to items zero or unchanged."""
  if kept is None:
    return to_users, to_items
  return to_users * kept[None], to_items * (kept > 0)[:, None]


def _numpy_mmgcn(adjacency, p, items, layers, kept=None):
  users_rows = p['preference/embedding'].shape[0]
  counts = np.zeros((users_rows, items.shape[0]))
  counts[:adjacency.shape[0]] = adjacency
  to_users, to_items = _dropped(_rows_over(counts), _rows_over(counts.T), kept)  # means
  users, items = _normalize(p['preference/embedding']), _normalize(items)
  ids = {'users': p['user_ids/embedding'], 'items': p.get('item_ids/embedding', 0)}  # 0: _V
  for l in range(layers):
    w = lambda name: p[f'layers/{l}/{name}']
    h = {'users': to_users @ (items @ w('conv/kernel')),
         'items': to_items @ (users @ w('conv/kernel'))}
    x = {'users': users, 'items': items}
    new = {}
    for side in ('users', 'items'):
      x_hat = _leaky(x[side] @ w('linear/kernel') + w('linear/bias')) + ids[side]
      joined = np.concatenate([_leaky(h[side]), x_hat], axis=-1)
      new[side] = _leaky(joined @ w('combine/kernel') + w('combine/bias'))
    users, items = new['users'], new['items']
  return users, items


@pytest.mark.parametrize('mesh_shape', [(1, 1), (4, 2)])
def test_mmgcn_matches_numpy(mesh_shape):
  data, tower, p, items = _tower(MMGCN, mesh_shape, layers=2)
  tables = jax.jit(tower.propagate)(jnp.asarray(items))
  want_users, want_items = _numpy_mmgcn(_adjacency(data, items.shape[0]), p, items, 2)
  np.testing.assert_allclose(tables.users, want_users, atol=TOLERANCE)
  np.testing.assert_allclose(tables.items, want_items, atol=TOLERANCE)
  user_ids = jnp.array([3, 0])
  np.testing.assert_allclose(tower(None, None, user_ids, tables.users)[:, 0],
                             want_users[[3, 0]], atol=TOLERANCE)


def _numpy_grcn(adjacency, p, items, layers, routing, kept=None, unit_items=False):
  users_rows, vocab = p['preference/embedding'].shape[0], items.shape[0]
  counts = np.zeros((users_rows, vocab))
  counts[:adjacency.shape[0]] = adjacency
  content = _normalize(_leaky(items + p['content_bias']))
  preference = _normalize(p['preference/embedding'])

  def attention(preference):
    """Per (u, i): A[u, i] exp(<p_u, c_i>), normalised over u's edges and over i's edges."""
    weights = counts * np.exp(preference @ content.T)
    return _dropped(_rows_over(weights), _rows_over(weights.T), kept)

  for _ in range(routing):
    preference = _normalize(preference + attention(preference)[0] @ content)
  over_users, over_items = attention(preference)
  content_users = preference + over_users @ content
  content_items = content + over_items @ preference
  # One edge's attention times its sender's confidence, ReLU; `over_*` sum repeated edges, but
  # a weight's sign is one edge's, so the ReLU applies to the per-edge value.
  per_edge = lambda over: over / np.where(counts > 0, counts, 1)
  item_confidence = p.get('item_confidence/embedding', np.ones((vocab, 1)))  # ones: _V
  to_users = counts * np.maximum(per_edge(over_users) * item_confidence[:, 0], 0)
  to_items = (counts * np.maximum(per_edge(over_items.T) *
                                  p['user_confidence/embedding'][:, :1], 0)).T
  users = _normalize(p['user_ids/embedding'])
  ids = _normalize(p.get('item_ids/embedding', items))  # `_V`: the item's own vector
  user_sum, item_sum = users, ids
  for _ in range(layers):
    users, ids = to_users @ ids, to_items @ users
    user_sum, item_sum = user_sum + users, item_sum + ids
  pruned = np.sum((counts > 0) & (to_users == 0)) + np.sum((counts.T > 0) & (to_items == 0))
  items = np.concatenate([item_sum, content_items], -1)
  return (np.concatenate([user_sum, content_users], -1),
          _normalize(items) if unit_items else items, pruned)


@pytest.mark.parametrize('mesh_shape', [(1, 1), (4, 2)])
@pytest.mark.parametrize('unit_items', [False, True])
def test_grcn_matches_numpy(mesh_shape, unit_items):
  data, tower, p, items = _tower(GRCN, mesh_shape, layers=2, routing=2, unit_items=unit_items)
  tables = jax.jit(tower.propagate)(jnp.asarray(items))
  want_users, want_items, pruned = _numpy_grcn(_adjacency(data, items.shape[0]), p, items, 2, 2,
                                               unit_items=unit_items)
  assert pruned > 0  # some messages have a negative confidence: the ReLU prunes them
  assert tables.users.shape[1] == tables.items.shape[1] == 2 * D
  np.testing.assert_allclose(tables.users, want_users, atol=TOLERANCE)
  np.testing.assert_allclose(tables.items, want_items, atol=TOLERANCE)
  norms = np.linalg.norm(tables.items[1:data.num_items + 1], axis=-1)
  # `model.grcn.unit_item_vectors`: the cold item 6 and the seen ones alike; else seen ones are longer.
  assert np.allclose(norms, 1, atol=TOLERANCE) == unit_items, norms


@pytest.mark.parametrize('cls, kwargs', [(MMGCN, dict(layers=2)),
                                         (GRCN, dict(layers=2, routing=2))])
def test_graph_v_has_no_item_ids_and_scores_a_cold_item_by_its_feature(cls, kwargs):
  """`_V` (`item_ids=False`), the cold-start case: no learned item rows, the numpy model
  without them, and item 6 (no edge) moves with its feature alone."""
  data, tower, p, items = _tower(cls, (1, 1), item_ids=False, **kwargs)
  assert not [k for k in p if k.startswith('item_')], list(p)
  propagate = jax.jit(tower.propagate)
  tables = propagate(jnp.asarray(items))
  numpy_model = _numpy_mmgcn if cls is MMGCN else _numpy_grcn
  want = numpy_model(_adjacency(data, items.shape[0]), p, items, *kwargs.values())
  np.testing.assert_allclose(tables.users, want[0], atol=TOLERANCE)
  np.testing.assert_allclose(tables.items, want[1], atol=TOLERANCE)
  other = items.copy()
  other[6] = np.random.default_rng(1).normal(size=D)
  moved = propagate(jnp.asarray(other))
  scores = lambda t: np.asarray(t.users[:data.num_users] @ t.items[:data.num_items + 1].T)
  changed = np.any(np.abs(scores(moved) - scores(tables)) > 1e-6, axis=0)
  assert changed.nonzero()[0].tolist() == [6]  # only the cold item's scores follow its feature


@pytest.mark.parametrize('mesh_shape', [(1, 1), (4, 2)])
@pytest.mark.parametrize('cls, kwargs, numpy_model',
                         [(MMGCN, dict(layers=2), _numpy_mmgcn),
                          (GRCN, dict(layers=2, routing=2), _numpy_grcn)])
def test_item_dropout_leaves_items_out_of_the_training_graph(cls, kwargs, numpy_model,
                                                             mesh_shape):
  """`model.<tower>.item_dropout`: a training step's dropped items send and receive no message and
  lose their ID vector, as a cold item at evaluation; evaluation drops nothing."""
  data, tower, p, items = _tower(cls, mesh_shape, item_dropout=0.5, **kwargs)
  adjacency = _adjacency(data, items.shape[0])
  draw = lambda module: np.asarray(module.dropout(jnp.ones((items.shape[0], 1))))[:, 0]
  for _ in range(20):  # until items 1..5, those with edges, hold dropped and kept ones
    kept = draw(nnx.clone(tower.item_dropout))  # the step's draw: the same state, the same mask
    if 0 < np.sum(kept[1:data.num_items] == 0) < data.num_items - 1:
      break
    draw(tower.item_dropout)  # the next state
  assert set(kept[1:data.num_items]) == {0, 2}, kept
  propagate = nnx.jit(lambda t, x: t.propagate(x))
  tables = propagate(tower, jnp.asarray(items))
  hiding = lambda rows: {**p, 'item_ids/embedding': p['item_ids/embedding'] * rows[:, None]}
  left_out = hiding(kept > 0)  # and their ID vectors hidden
  want_users, want_items = numpy_model(adjacency, left_out, items, *kwargs.values(),
                                       kept=kept)[:2]
  np.testing.assert_allclose(tables.users, want_users, atol=TOLERANCE)
  np.testing.assert_allclose(tables.items, want_items, atol=TOLERANCE)
  dropped = np.flatnonzero(kept == 0)
  without_edges = numpy_model(adjacency * (kept > 0), left_out, items, *kwargs.values())[1]
  np.testing.assert_allclose(tables.items[dropped], without_edges[dropped], atol=TOLERANCE)
  # Evaluation: every edge, and the ID vector of item 6 (never in training) hidden.
  evaluated = propagate(eval_view(tower), jnp.asarray(items))
  seen = np.zeros(items.shape[0])
  seen[1:data.num_items] = 1
  np.testing.assert_allclose(evaluated.items, numpy_model(adjacency, hiding(seen), items,
                                                          *kwargs.values())[1], atol=TOLERANCE)


def _vbpr_config(directory, hidden=16):
  config = helpers.tiny_features_config(directory, 'id+features', 'dssm')
  config.model.update(hidden=hidden)
  config.model.features.combine = 'concat'
  config.mesh.data = 1
  return configuration.resolve(config)


def test_vbpr_scores_match_numpy_and_evaluation_has_no_random_term(tmp_path):
  config = _vbpr_config(tmp_path / 'table')
  data = synthetic.sequential_interactions()
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  trainer = loop.build_trainer(config, data, mesh)
  helpers.train_one_step(trainer, helpers.first_batch(trainer, data, config), mesh,
                         config.mesh.rules)
  model = eval_view(trainer.model(trainer.state))
  half = config.model.hidden // 2
  tower = model.item_tower
  ids_table = np.asarray(tower.ids.embedding.embedding[...])
  kernel = np.asarray(tower.content.kernel[...])
  assert ids_table.shape[1] == kernel.shape[1] == half
  features = np.zeros((ids_table.shape[0], kernel.shape[0]), np.float32)
  features[1:data.num_items + 1] = standardised(np.asarray(
      tower.features[...])[1:data.num_items + 1])  # standardising twice changes nothing
  items = np.concatenate([ids_table, features @ kernel], axis=1)
  items[0] = 0
  users = np.asarray(model.user_tower.user_table.embedding[...])
  user_ids = np.array([0, 5, 7])
  inputs = jnp.zeros((3, 1), jnp.int32)
  tables = model.tables(model.item_table())
  queries = model.eval_queries(tables, inputs, jnp.asarray(user_ids))
  scores = np.asarray(model.score(queries, tables.items))
  # [user ID | visual preference] . [item ID | W f_i]: the trained formula, no bias term
  want = users[user_ids, :half] @ ids_table.T + users[user_ids, half:] @ (features @ kernel).T
  np.testing.assert_allclose(scores[:, 1:data.num_items + 1], want[:, 1:data.num_items + 1],
                             atol=TOLERANCE)
  evaluation = loop.build_evaluation(config, data, trainer, mesh, None, show_progress=False)
  first, _ = evaluation.ranks(trainer.state.model_states(), 'valid')
  second, _ = evaluation.ranks(trainer.state.model_states(), 'valid')
  np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize('override, message', [
    ({'model.features.combine': 'stack'}, "combine='stack'; choose one of sum, concat"),
    ({'model.hidden': 15}, 'splits model.hidden=15 in two halves'),
    ({'model.item_tower': 'features'}, "needs the id+features item tower, not 'features'"),
    ({'model.user_tower': 'grcn', 'model.features.combine': 'sum', 'model.item_tower': 'features',
      'model.grcn.routing_iterations': -1},
     'config.model.grcn.routing_iterations=-1 must be at least 0'),
    ({'model.user_tower': 'mmgcn', 'model.features.combine': 'sum', 'model.item_tower': 'id',
      'model.features.path': '', 'model.mmgcn.item_ids': False},
     "config.model.mmgcn.item_ids=False (the _V model) needs an item tower with content, not 'id'"),
    ({'model.user_tower': 'grcn', 'model.features.combine': 'sum', 'model.item_tower': 'features',
      'model.grcn.item_dropout': 1.0},
     'config.model.grcn.item_dropout=1.0 must be a finite number at least 0 and below 1'),
    ({'model.mmgcn.item_dropout': 0.3},
     "config.model.mmgcn.item_dropout=0.3 is set, but it applies only with "
     "config.model.user_tower='mmgcn'"),
    ({'model.grcn.unit_item_vectors': True},
     "config.model.grcn.unit_item_vectors=True is set, but it applies only with "
     "config.model.user_tower='grcn'"),
])
def test_bad_vidrec_keys_are_one_line_errors(tmp_path, override, message):
  config = _vbpr_config(tmp_path / 'table')
  for key, value in override.items():
    section, name = key.rsplit('.', 1)
    node = config
    for part in section.split('.'):
      node = node[part]
    node[name] = value
  with pytest.raises(JaxlensError, match=re.escape(message)) as error:
    configuration.check(config, jax.devices()[:1])
  assert '\n' not in str(error.value)


@pytest.mark.parametrize('user_tower, item_tower, item_dropout', [('dssm', 'id+features', 0.0),
                                                                  ('mmgcn', 'features', 0.3),
                                                                  ('grcn', 'features', 0.3)])
def test_vidrec_graph_models_agree_across_meshes(tmp_path, user_tower, item_tower, item_dropout):
  """DSSM_ID+V (concatenated halves), MMGCN_ID+V and GRCN_ID+V (with their configs' item
  dropout, GRCN's unit item vectors): one step on (4, 2) equals the one-device step (the towers'
  mesh in tests/test_sharding.py)."""
  config = helpers.tiny_features_config(tmp_path, item_tower, user_tower)
  if user_tower == 'mmgcn':
    config.model.mmgcn.item_dropout = item_dropout
  if user_tower == 'grcn':
    config.model.grcn.update(item_dropout=item_dropout, unit_item_vectors=True)
  if user_tower == 'dssm':
    config.model.features.combine = 'concat'
  _assert_meshes_agree(configuration.resolve(config), TOWER_MESHES)


def test_grcn_id_v_trains_through_main(tmp_path):
  data = synthetic.sequential_interactions()
  helpers.write_pairs(tmp_path / 'pairs.tsv', data)
  table = helpers.random_feature_table(tmp_path / 'table', data.original_item_ids[1:])
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  result = subprocess.run(
      [sys.executable, '-m', 'jaxlens.main', '--config', 'configs/grcn_id_v.py:cpu',
       '--workdir', str(tmp_path / 'run'), f'--config.data.pairs_path={tmp_path}/pairs.tsv',
       f'--config.model.features.path={table}', '--config.model.hidden=8',
       '--config.train.batch_size=16', '--config.train.epochs=1', '--config.eval.batch_size=16',
       '--config.data.max_seq_len=6'],
      cwd=helpers.REPO, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'run' / 'results.json', encoding='utf-8') as f:
    results = json.load(f)
  assert 0 <= results['test']['HR@10'] <= 1


@pytest.mark.parametrize('name', ['dssm_id_v', 'mmgcn_id', 'mmgcn_id_v', 'grcn_id', 'grcn_id_v'])
@pytest.mark.parametrize('arg', [None, 'cpu', 'toy'])
def test_configs_load_with_their_variants(name, arg):
  config = helpers.load_config(name, arg)
  assert config.model.item_tower == ('id' if name.endswith('_id') else
                                     'id+features' if name == 'dssm_id_v' else 'features')
  assert config.loss.name == 'in_batch' and config.optim.weight_decay == 0
  assert (config.data.name == 'microlens/toy') == (arg == 'toy')
  if name == 'dssm_id_v' and arg is None:  # Code/VIDRec/DSSM: d = 512/2, projection lr 1e-4
    assert config.model.hidden == 512 and config.model.features.combine == 'concat'
    assert (config.optim.lr, config.optim.content_lr) == (1e-3, 1e-4)
  # The cold-start additions (docs/fidelity.md): item dropout, and unit item vectors for GRCN.
  graph = config.model.get(config.model.user_tower, {})
  assert graph.get('item_dropout', 0) == (0.3 if name in ('mmgcn_id_v', 'grcn_id_v') else 0)
  assert graph.get('unit_item_vectors', False) == (name == 'grcn_id_v')


def test_vbpr_projection_alone_is_in_the_content_group(tmp_path):
  """`Code/VIDRec/DSSM/vbpr.yaml`: parameters named `projection` at lr 1e-4, all others at 1e-3."""
  config = _vbpr_config(tmp_path / 'table')
  trainer = loop.build_trainer(config, synthetic.sequential_interactions(),
                               sharding.make_mesh(config.mesh, jax.devices()[:1]))
  labels = {jax.tree_util.keystr(path): label for path, label in
            jax.tree_util.tree_flatten_with_path(optimizer.group_labels(trainer.state.params))[0]}
  assert {path for path, label in labels.items() if label == 'content'} == {
      path for path in labels if 'content' in path and 'kernel' in path}
  assert sum(label == 'content' for label in labels.values()) == 1
