"""Training reads only its shard: with P processes, each reads the rows of its slice of every
global batch from a built dataset's protocol split, and the global batches are those of one
process holding every user in memory."""

import numpy as np
import pytest

from jaxlens.data import interactions as interactions_lib
from jaxlens.data import pipeline, sharded, tasks
from jaxlens.train import loop
from tests import helpers

pytestmark = pytest.mark.slow  # trains from a built split and in memory

SEQUENCE = tasks.get('sequence')


@pytest.fixture(scope='module')
def toy(toy_data_dir):
  config = helpers.load_config('sasrec_id', 'cpu')
  config.data.name, config.data.dir = 'microlens/toy', toy_data_dir
  return config


def _batches(data, process, negatives, steps=3):
  layout = pipeline.BatchLayout(SEQUENCE, data.num_items, negatives=negatives)
  iterator = iter(pipeline.train_dataset(SEQUENCE.rows(data), layout, 64, 1, seed=3,
                                         process=process))
  return [next(iterator) for _ in range(steps)]


@pytest.mark.parametrize('negatives', [False, True])
def test_process_slices_of_the_built_split_make_the_in_memory_global_batches(toy, negatives):
  in_memory = interactions_lib.load(toy.data)
  by_user = interactions_lib.load(toy.data, rows_by_user=True)
  assert isinstance(by_user, sharded.ShardedInteractions)
  assert (by_user.num_users, by_user.num_items, by_user.num_interactions) == (
      in_memory.num_users, in_memory.num_items, in_memory.num_interactions)
  np.testing.assert_array_equal(by_user.train_item_counts(), in_memory.train_item_counts())
  whole = _batches(in_memory, pipeline.ProcessSlice(), negatives)
  halves = [_batches(by_user, pipeline.ProcessSlice(i, 2), negatives) for i in range(2)]
  for step, batch in enumerate(whole):
    first, second = halves[0][step], halves[1][step]
    for name, value in batch.items():
      if name == pipeline.NUM_POSITIONS:
        assert first[name] + second[name] == value  # the loop sums the processes' counts
      else:
        np.testing.assert_array_equal(np.concatenate([first[name], second[name]]), value)
  for split in ('valid', 'test'):
    whole = list(pipeline.eval_dataset(in_memory, split, 64))
    halves = [list(pipeline.eval_dataset(by_user, split, 64, pipeline.ProcessSlice(i, 2)))
              for i in range(2)]
    for batch, first, second in zip(whole, *halves):
      for name, value in batch.items():
        np.testing.assert_array_equal(np.concatenate([first[name], second[name]]), value)


def test_training_from_the_split_equals_training_in_memory(toy, tmp_path):
  """2 epochs of 8 steps, a small model: every batch of the split is read, in two orders."""
  toy.train.update(epochs=2, batch_size=256)
  toy.model.hidden = 16
  toy.eval.batch_size = 512
  by_user = loop.train_and_evaluate(toy, str(tmp_path / 'by_user'))
  toy.data.min_item_interactions = 1  # warm-1 removes nothing but needs the protocol in memory
  in_memory = loop.train_and_evaluate(toy, str(tmp_path / 'memory'))
  for split in ('valid', 'test'):
    for name, value in in_memory[split].items():
      np.testing.assert_allclose(by_user[split][name], value, atol=1e-6, err_msg=name)
  assert by_user['breakdowns'] == in_memory['breakdowns']
