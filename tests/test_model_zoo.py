"""Every registered (user tower, item tower, loss) combination is refused with one line before a
run starts or is valid, and the valid ones train a step and evaluate; the steps do not retrace as
batches change.

Training covers the valid combinations pairwise rather than all of them (a third of them): each
part's code meets another part only through one pair at a time (the user tower reads the item
tower's table or encoder, the loss reads the user tower's queries and the item tower's vectors),
so every valid (user tower, item tower), (user tower, loss) and (item tower, loss) pair is
trained in at least one case. The set is computed from the registries, so a new part is covered
as soon as it is registered."""

import itertools

import jax
import numpy as np
import pytest

from jaxlens import sharding
from jaxlens.data import clips as clips_lib
from jaxlens.data import pipeline, synthetic
from jaxlens.errors import JaxlensError
from jaxlens.models import item_towers, user_towers
from jaxlens.train import configuration, loop, losses
from tests import helpers

pytestmark = pytest.mark.slow  # compiles every user and item tower

COMBINATIONS = list(itertools.product(user_towers.REGISTRY.names(), item_towers.REGISTRY.names(),
                                      losses.REGISTRY.names()))


def _why_invalid(user_tower, item_tower, loss) -> str | None:
  """What the refusal must advise: graph towers and full_softmax need every item's vector each
  step, which the video tower cannot give."""
  if item_tower != 'video':
    return None
  if user_towers.REGISTRY.get(user_tower).needs_item_table:
    with_table = [name for name in item_towers.REGISTRY.names()
                  if item_towers.REGISTRY.get(name).has_table]
    assert with_table == ['features', 'id', 'id+features']
    return f'use the {" or ".join(with_table)} item tower'
  return 'use bce or in_batch' if loss == 'full_softmax' else None


@pytest.fixture(scope='module')
def features_dir(tmp_path_factory):
  return tmp_path_factory.mktemp('features')


def _config(user_tower, item_tower, loss, features_dir):
  if item_tower == 'video':
    config = helpers.tiny_video_config()
  elif item_towers.REGISTRY.get(item_tower).reads_features:
    config = helpers.tiny_features_config(features_dir, item_tower)
  else:
    config = helpers.tiny_config()
  config.model.update(user_tower=user_tower, item_tower=item_tower)
  config.loss.name = loss
  config.mesh.data = 1
  return config


def _refusal(config) -> str | None:
  try:
    configuration.check(configuration.resolve(config), jax.devices()[:1])
  except JaxlensError as e:
    return str(e)
  return None


def test_the_parts_declare_which_combinations_are_invalid(features_dir):
  refused = {combo: _refusal(_config(*combo, features_dir)) for combo in COMBINATIONS}
  invalid = {combo for combo, message in refused.items() if message}
  assert invalid == {combo for combo in COMBINATIONS if _why_invalid(*combo)}
  assert ('lightgcn', 'video', 'in_batch') in invalid
  for combo in invalid:
    assert '\n' not in refused[combo] and _why_invalid(*combo) in refused[combo]


def _pairwise_cover(combinations):
  """Valid combinations, chosen greedily until each valid pair of parts is in one of them."""
  pairs = lambda combo: {(0, combo[0], combo[1]), (1, combo[0], combo[2]), (2, combo[1], combo[2])}
  uncovered = set().union(*map(pairs, combinations))
  chosen = []
  while uncovered:
    best = max(combinations, key=lambda combo: len(pairs(combo) & uncovered))
    chosen.append(best)
    uncovered -= pairs(best)
  return chosen


VALID = [combo for combo in COMBINATIONS if not _why_invalid(*combo)]
TRAINED = _pairwise_cover(VALID)


def test_the_trained_cases_cover_every_valid_pair_of_parts():
  for first, second in itertools.combinations(range(3), 2):
    want = {(combo[first], combo[second]) for combo in VALID}
    assert {(combo[first], combo[second]) for combo in TRAINED} == want, (first, second)
  assert len(TRAINED) < len(VALID) / 2


@pytest.mark.parametrize('user_tower, item_tower, loss', TRAINED)
def test_valid_combination_trains_and_evaluates(user_tower, item_tower, loss, features_dir):
  config = configuration.resolve(_config(user_tower, item_tower, loss, features_dir))
  data = synthetic.sequential_interactions()
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  trainer = loop.build_trainer(config, data, mesh)
  clips = None
  if item_tower == 'video':
    clips = clips_lib.ClipStore(synthetic.RandomFrames(config.data.num_frames,
                                                       config.data.frame_size),
                                data.original_item_ids, in_memory=True)
  loss_value = helpers.train_one_step(trainer, helpers.first_batch(trainer, data, config, clips),
                                      mesh, config.mesh.rules)
  assert np.isfinite(loss_value)
  evaluation = loop.build_evaluation(config, data, trainer, mesh, clips, show_progress=False)
  ranks, _ = evaluation.ranks(trainer.state.model_states(), 'valid')
  assert ranks.shape == (data.num_users,) and (ranks >= 1).all()
  assert (ranks <= data.num_items).any()  # not all misses


def test_steps_do_not_retrace_as_distinct_clip_counts_change():
  """The train step compiles once per (distinct-clip bucket, query bound) shape and never
  retraces otherwise; buckets are fewer than distinct-clip counts; evaluation compiles each
  function once."""
  config = configuration.resolve(helpers.tiny_video_config())
  config.mesh.data = 1
  data = synthetic.sequential_interactions(users=64, items=400)  # 8 steps, 3 shapes
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  trainer = loop.build_trainer(config, data, mesh)
  store = clips_lib.ClipStore(synthetic.RandomFrames(config.data.num_frames,
                                                     config.data.frame_size),
                              data.original_item_ids, in_memory=True)
  rows = trainer.task.rows(data)
  layout = pipeline.BatchLayout(trainer.task, data.num_items, clips=store,
                                clip_multiple=loop.unique_bucket(config, mesh))
  steps = pipeline.steps_per_epoch(len(rows), config.train.batch_size)
  iterator = iter(pipeline.train_dataset(rows, layout, config.train.batch_size, 2, seed=0))
  distinct, shapes = set(), set()
  evaluation = loop.build_evaluation(config, data, trainer, mesh, store, show_progress=False)
  for step in range(2 * steps):
    batch = next(iterator)
    distinct.add(int(batch['clip_mask'].sum()))
    shapes.add((len(batch['clips']), trainer.position_bound(config.train.batch_size,
                                                            int(batch['num_positions']))))
    helpers.train_one_step(trainer, batch, mesh, config.mesh.rules)
    if (step + 1) % steps == 0:
      evaluation.ranks(trainer.state.model_states(), 'valid')
  assert trainer.compiled_variants() == len(shapes)
  assert len({bucket for bucket, _ in shapes}) < len(distinct)
  assert evaluation.compiled_variants() == {'table': 0, 'encode': 1, 'tables': 1, 'ranks': 1}


@pytest.mark.parametrize('loss', ['in_batch', 'bce'])  # bce: negatives' clips count too
def test_a_short_run_pads_its_batches_to_one_planned_shape(loss):
  """The batches above compile 3 shapes; planned from the run's first batches, every batch of its
  2 epochs has the same distinct-clip count and query bound, at least its own. A run of more
  than 256 steps keeps the buckets."""
  config = configuration.resolve(helpers.tiny_video_config())
  config.loss.name, config.mesh.data = loss, 1
  data = synthetic.sequential_interactions(users=64, items=400)
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  trainer = loop.build_trainer(config, data, mesh)
  rows = trainer.task.rows(data)
  buckets = pipeline.BatchLayout(trainer.task, data.num_items,
                                 negatives=trainer.loss.needs_negatives, clips_on_device=True,
                                 clip_multiple=loop.unique_bucket(config, mesh))
  longer = config.copy_and_resolve_references()
  longer.train.epochs = 65  # 4 steps an epoch
  assert loop.plan_shapes(longer, trainer, rows, buckets) is buckets
  assert trainer.position_floor == 0
  layout = loop.plan_shapes(config, trainer, rows, buckets)
  steps = pipeline.steps_per_epoch(len(rows), config.train.batch_size)
  batches = list(itertools.islice(pipeline.train_dataset(
      rows, layout, config.train.batch_size, 2, seed=config.seed), 2 * steps))
  shapes = {(len(batch['clip_items']),
             trainer.position_bound(config.train.batch_size, int(batch['num_positions'])))
            for batch in batches}
  assert shapes == {(layout.distinct_floor, trainer.position_floor)}
  assert max(int(batch['clip_mask'].sum()) for batch in batches) <= layout.distinct_floor
