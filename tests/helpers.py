"""Configs shared by the training tests (the repository's config files, shrunk), and checks
they share."""

import gc
import os

import jax
import numpy as np

from jaxlens import default_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def live_arrays() -> set[int]:
  """The ids of the arrays alive now, garbage collected first: a later call that holds ids not
  in an earlier one's saw new arrays (earlier tests' garbage may be freed in between)."""
  gc.collect()
  return {id(array) for array in jax.live_arrays()}


def load_config(name: str, arg: str | None = None):
  """`configs/<name>.py` as `--config configs/<name>.py[:arg]` loads it."""
  return default_config.load(f'{name}:{arg}' if arg else name)


def tiny_config(loss='in_batch', user_tower='sasrec'):
  """The user tower's config file (`<tower>_id.py` for sequence towers, `<tower>.py` for CF
  ones), shrunk."""
  name = f'{user_tower}_id'
  config = load_config(name if os.path.exists(os.path.join(REPO, 'configs', f'{name}.py'))
                       else user_tower)
  config.data.max_seq_len = 6
  config.model.hidden = 16
  config.train.batch_size = 16
  config.train.epochs = 2
  config.train.log_every_steps = 1
  config.eval.batch_size = 16
  config.loss.name = loss
  config.optim.lr = 1e-2
  return config


def tiny_video_config(train_mode='scratch'):
  config = load_config('sasrec_v', 'toy')
  config.data.max_seq_len = 6
  config.data.num_frames, config.data.frame_size = 4, 16
  config.model.hidden = 16
  config.model.encoder.train_mode = train_mode
  config.model.encoder.init_from = '' if train_mode == 'scratch' else 'random'
  config.train.batch_size = 16
  config.train.epochs = 2
  config.eval.batch_size = 16
  config.eval.encode_batch = 16
  return config


def train_state(config):
  """A fresh train state of `config`'s model (nothing compiled), e.g. to restore onto."""
  from jaxlens import sharding  # pylint: disable=g-import-not-at-top
  from jaxlens.data import interactions  # pylint: disable=g-import-not-at-top
  from jaxlens.train import configuration, loop  # pylint: disable=g-import-not-at-top
  config = configuration.resolve(config)
  data = interactions.load(config.data, rows_by_user=True)
  return loop.build_trainer(config, data, sharding.make_mesh(config.mesh)).state


def write_pairs(path, data):
  """`data`'s sequences as a `*_pairs.tsv` file."""
  with open(path, 'w') as f:
    for user, row in zip(data.users, data.sequences):
      f.write(f'{user}\t{" ".join(str(i) for i in row[row != 0])}\n')


def random_feature_table(directory, item_ids, dim=12, modality='video', seed=0):
  """A feature table of random vectors for `item_ids` (original ids), written to `directory`."""
  from jaxlens.data import item_features  # pylint: disable=g-import-not-at-top
  features = np.random.default_rng(seed).normal(size=(len(item_ids), dim))
  item_features.write(str(directory), features, item_ids, {'modality': modality})
  return str(directory)


def tiny_features_config(directory, item_tower='id+features', user_tower='sasrec'):
  """`tiny_config` with a feature tower over a random table of the synthetic data's items."""
  from jaxlens.data import synthetic  # pylint: disable=g-import-not-at-top
  config = tiny_config(user_tower=user_tower)
  config.model.item_tower = item_tower
  config.model.features.path = random_feature_table(
      directory, synthetic.sequential_interactions().original_item_ids[1:])
  return config


def first_batch(trainer, data, config, clips=None, clip_multiple=1):
  """The first training batch a run of `config` sees (host arrays, `num_positions` included)."""
  from jaxlens.data import pipeline  # pylint: disable=g-import-not-at-top
  layout = pipeline.BatchLayout(trainer.task, data.num_items,
                                negatives=trainer.loss.needs_negatives, clips=clips,
                                clip_multiple=clip_multiple)
  rows = trainer.task.rows(data)
  return next(iter(pipeline.train_dataset(rows, layout, config.train.batch_size, 1, seed=0)))


def train_one_step(trainer, batch, mesh, rules):
  """Runs one step on a host batch laid over `mesh`; returns the loss."""
  from jaxlens import sharding  # pylint: disable=g-import-not-at-top
  batch = dict(batch)
  num_positions = int(batch.pop('num_positions'))
  metrics = trainer.run_train_step(sharding.global_batch(batch, sharding.batch_sharding(
      mesh, rules)), num_positions)
  return float(metrics['loss'])
