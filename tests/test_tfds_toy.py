"""The synthetic `toy` subset: deterministic, content predicts behaviour, cold items, readable
through Grain."""

import collections
import os

import grain
import numpy as np
import pytest

from jaxlens.data import normalize as normalize_lib
from jaxlens.data import tfds_source
from jaxlens.builders import subset as build_subset
from jaxlens.builders import toy

SPEC = toy.ToySpec()  # the `toy` builder config


@pytest.fixture(scope='module')
def toy_dir(tmp_path_factory) -> str:
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  build_subset.ensure_built('microlens/toy', data_dir)  # builds: nothing is there yet
  return data_dir


def test_toy_files_are_deterministic(tmp_path):
  small = toy.ToySpec(num_users=30, num_items=40, num_categories=4, seed=3)
  for name in ('a', 'b'):
    toy.write_toy_files(str(tmp_path / name), small)
  for folder, _, files in os.walk(tmp_path / 'a'):
    for name in files:
      twin = os.path.join(str(folder).replace(str(tmp_path / 'a'), str(tmp_path / 'b')), name)
      with open(os.path.join(folder, name), 'rb') as f, open(twin, 'rb') as g:
        assert f.read() == g.read(), name
  other = toy.draw_sequences(toy.ToySpec(num_users=30, num_items=40, num_categories=4, seed=4))
  assert any(len(a) != len(b) or (a != b).any()
             for a, b in zip(other, toy.draw_sequences(small)))


def test_toy_build_and_users_prefer_categories(toy_dir):
  histories = tfds_source.load_interactions('microlens/toy', toy_dir)
  assert len(histories) == SPEC.num_users
  assert all(SPEC.min_len <= len(h.items) <= SPEC.max_len for h in histories)
  assert all((np.diff(h.timestamps) > 0).all() for h in histories)
  categories = toy.item_categories(SPEC)
  # Share of a user's items in their two most frequent categories; 1/4 if behaviour were random.
  shares = [sum(sorted(collections.Counter(categories[h.items]).values())[-2:]) / len(h.items)
            for h in histories]
  assert np.mean(shares) > 0.8


def test_cold_items_occur_only_last(toy_dir):
  histories = tfds_source.load_interactions('microlens/toy', toy_dir)
  cold = set(toy.cold_items(SPEC).tolist())
  assert len(cold) == round(SPEC.cold_fraction * SPEC.num_items)
  assert not cold & {int(i) for h in histories for i in h.items[:-1]}
  last_cold = {int(h.items[-1]) for h in histories} & cold
  assert len(last_cold) > len(cold) // 2


def test_toy_videos_differ_by_category_and_are_read_back(toy_dir):
  items = tfds_source.ItemFrames('microlens/toy', toy_dir)
  assert len(items) == SPEC.num_items
  assert {items.status(i) for i in items.item_ids[:20]} == {'ok'}
  clip = items.frames(1)
  assert clip.shape == (5, 224, 224, 3)
  small = tfds_source.ItemFrames('microlens/toy', toy_dir, size=(64, 64))
  error = lambda item, other: np.abs(small.frames(item).astype(float)
                                     - toy.render_video(other, SPEC)[10:15]).mean()
  # The middle clip of 24 frames is frames 10..14; mp4v, JPEG and two resizes cost a few levels.
  assert error(1, 1) < 6 < 20 < error(1, 2)


def test_grain_pipeline_batches_normalised_clips(toy_dir):
  items = tfds_source.ItemFrames('microlens/toy', toy_dir, num_frames=4, size=(32, 32))
  dataset = (grain.MapDataset.source(items).seed(0).shuffle()
             .map(normalize_lib.normalize).batch(8))
  batch = dataset[0]
  assert batch.shape == (8, 4, 32, 32, 3) and batch.dtype == np.float32
  order = [int(i) for i in grain.MapDataset.source(items.item_ids).seed(0).shuffle()[:8]]
  expected = normalize_lib.normalize(items.load_all(order))
  np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-6)
