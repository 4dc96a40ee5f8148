"""The content signal is real: on `toy`, SASRec_V beats SASRec-ID on items cold at training
time, and both beat the most-popular baseline overall.

Both runs are as short as the claim allows, each validated once, at its end: SASRec_V on 16 px
frames for 2 epochs (the video tower finds the toy's categories in the first one), SASRec-ID for
6 (it stays at most-popular's level for 3 and overtakes it by the 5th).
"""

import pytest

from jaxlens.data import interactions as interactions_lib
from jaxlens.eval.popularity import most_popular
from jaxlens.train import loop
from tests import helpers

pytestmark = pytest.mark.slow  # trains SASRec_V and SASRec-ID on toy


def _toy(config, data_dir, epochs):
  config.data.name, config.data.dir = 'microlens/toy', data_dir
  config.train.epochs = config.eval.every_epochs = epochs
  return config


def test_video_beats_id_on_cold_items_and_both_beat_popularity(tmp_path, toy_data_dir):
  video_config = _toy(helpers.load_config('sasrec_v', 'toy'), toy_data_dir, epochs=2)
  video_config.data.frame_size = 16
  video = loop.train_and_evaluate(video_config, str(tmp_path / 'video'))
  id_config = _toy(helpers.load_config('sasrec_id', 'cpu'), toy_data_dir, epochs=6)
  id_config.train.batch_size, id_config.model.dropout = 64, 0.1  # as the toy video run
  ids = loop.train_and_evaluate(id_config, str(tmp_path / 'id'))
  popular = most_popular(interactions_lib.load(id_config.data), 'test', id_config.eval)

  print(f"HR@10 test: video {video['test']['HR@10']:.3f}  id {ids['test']['HR@10']:.3f}  "
        f"most-popular {popular['HR@10']:.3f}; cold ({video['test_cold']['users']} users): "
        f"video {video['test_cold']['HR@10']:.3f}  id {ids['test_cold']['HR@10']:.3f}  "
        f"most-popular {popular['cold']['HR@10']:.3f}")
  assert video['test_cold']['users'] == popular['cold']['users'] >= 100
  assert video['test_cold']['HR@10'] > ids['test_cold']['HR@10'] + 0.05
  assert video['test']['HR@10'] > popular['HR@10'] + 0.02
  assert ids['test']['HR@10'] > popular['HR@10'] + 0.02
