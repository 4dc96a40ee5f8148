"""A custom dataset with videos (written with OpenCV's writer), covers and titles: built as
MicroLens's frames are, problems named in the build report, and SASRec_V trained on it."""

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from jaxlens.builders import toy
from jaxlens.builders.__main__ import main as build_main
from jaxlens.data import item_features
from jaxlens.data import tfds_source
from jaxlens.extract.__main__ import main as extract_main
from jaxlens.train import loop
from tests import custom_tables
from tests import helpers
from tests.tfds_test_videos import write_truncated

ITEMS = [f'clip-{n:02d}' for n in range(1, 25)]
NO_VIDEO, TRUNCATED, GIF, BAD_COVER = 'clip-03', 'clip-04', 'clip-05', 'clip-06'


def _video(n: int) -> np.ndarray:
  """8 frames of 16x16: a colour per item group and a square moving with the frame index."""
  video = np.zeros((8, 16, 16, 3), np.uint8)
  video[:] = ((n % 4) * 60, 255 - (n % 3) * 80, 40)
  for t in range(8):
    video[t, 4:10, t:t + 6] = 255
  return video


def _interactions() -> list[tuple[str, str]]:
  """60 users, 6 items each, from one of four item groups mostly."""
  rng = np.random.default_rng(0)
  rows = []
  for user in range(60):
    group = [i for n, i in enumerate(ITEMS) if n % 4 == user % 4]
    rows += [(f'viewer{user}', str(item)) for item in rng.choice(group, 6, replace=False)]
  return rows


@pytest.fixture(scope='module')
def content(tmp_path_factory):
  """Videos, covers and an items table with titles, in a folder."""
  folder = tmp_path_factory.mktemp('content')
  videos, covers = folder / 'videos', folder / 'covers'
  videos.mkdir()
  covers.mkdir()
  for n, item in enumerate(ITEMS, start=1):
    if item not in (NO_VIDEO, TRUNCATED, GIF):
      toy.write_mp4(str(videos / f'{item}.mp4'), _video(n))
    cv2.imwrite(str(covers / f'{item}.png'), cv2.cvtColor(_video(n)[0], cv2.COLOR_RGB2BGR))
  write_truncated(str(videos / f'{TRUNCATED}.mp4'))
  (videos / f'{GIF}.gif').write_bytes(b'GIF89a')
  toy.write_mp4(str(videos / 'clip-99.mp4'), _video(99))  # not in the interactions
  (covers / f'{BAD_COVER}.png').write_bytes(b'not an image')
  with open(folder / 'items.csv', 'w', encoding='utf-8') as f:
    f.write('item,title,group,video\n')
    f.writelines(f'{item},clip number {n} of group {n % 4},g{n % 4},videos/{item}.mp4\n'
                 for n, item in enumerate(ITEMS, start=1))
  custom_tables.write(folder, _interactions(), 'csv', columns=('user', 'item'))
  return folder


@pytest.fixture(scope='module')
def built(content, tmp_path_factory):
  data_dir = tmp_path_factory.mktemp('tfds')
  status = build_main(['custom', '--name=vids', f'--interactions={content}/interactions.csv',
                 f'--items={content}/items.csv', '--title_col=title', '--category_cols=group',
                 f'--videos={content}/videos', f'--covers={content}/covers', '--num_frames=4',
                 '--frame_size=16', '--num_workers=1', f'--data_dir={data_dir}'])
  assert status == 0
  return data_dir


def _report(data_dir) -> dict:
  with open(os.path.join(tfds_source.built_dir('custom/vids', str(data_dir)),
                         'build_report.json'), encoding='utf-8') as f:
    return json.load(f)


def test_frames_covers_and_titles_by_source_id(built, content):
  names = tfds_source.source_item_ids('custom/vids', str(built), range(1, 25))
  assert names == ITEMS
  frames = tfds_source.ItemFrames('custom/vids', str(built))
  statuses = {names[n - 1]: frames.status(n) for n in range(1, 25)}
  assert statuses == {**{item: 'ok' for item in ITEMS}, NO_VIDEO: 'missing', GIF: 'missing',
                      TRUNCATED: 'unreadable'}
  n = ITEMS.index('clip-10') + 1
  clip = frames.frames(n)
  assert clip.shape == (4, 16, 16, 3)
  want = _video(n)[[2, 3, 4, 5]]  # the 4 central frames of 8
  assert np.abs(clip.astype(int) - want).mean() < 12  # JPEG and mp4v losses
  assert not frames.frames(ITEMS.index(TRUNCATED) + 1).any()  # the fallback: black frames
  covers = tfds_source.ItemCovers('custom/vids', str(built))
  assert np.abs(covers.frames(n)[0].astype(int) - _video(n)[0]).mean() < 12
  assert not covers.frames(ITEMS.index(BAD_COVER) + 1).any()
  texts = tfds_source.ItemTexts('custom/vids', str(built))
  assert texts.titles[n - 1] == 'clip number 10 of group 2'
  assert texts.categories == {'category:group': [f'g{k % 4}' for k in range(1, 25)]}


def test_the_report_names_what_could_not_be_used(built, content):
  report = _report(built)
  videos, covers = report['items']['videos'], report['items']['covers']
  assert videos['unreadable'] == [f'{content}/videos/{TRUNCATED}.mp4']
  assert videos['unsupported'] == [f'{content}/videos/{GIF}.gif']
  assert videos['given'] == 22 and videos['without_video'] == 3
  assert covers['unreadable'] == [f'{content}/covers/{BAD_COVER}.png']
  assert covers['without_cover'] == 1
  assert report['items']['unknown_items'][f'--videos {content}/videos'] == {
      'count': 1, 'examples': ['clip-99.mp4']}
  assert report['items']['video_status_counts'] == {'ok': 21, 'missing': 2, 'unreadable': 1}


def test_a_video_column_gives_the_folders_frames(built, content, tmp_path, capsys):
  status, _, err = custom_tables.build(
      capsys, '--name=vids', f'--interactions={content}/interactions.csv',
      f'--items={content}/items.csv', '--video_col=video', '--num_frames=4', '--frame_size=16',
      f'--data_dir={tmp_path}')
  assert status == 0, err
  by_folder = tfds_source.ItemFrames('custom/vids', str(built))
  by_column = tfds_source.ItemFrames('custom/vids', str(tmp_path))
  for n in range(1, 25):
    np.testing.assert_array_equal(by_column.frames(n), by_folder.frames(n))
  assert _report(tmp_path)['items']['videos']['not_found'] == [
      f'{content}/videos/{item}.mp4' for item in (NO_VIDEO, GIF)]


@pytest.mark.slow
def test_sasrec_v_trains_end_to_end(built, tmp_path):
  config = helpers.tiny_video_config()
  config.data.name, config.data.dir = 'custom/vids', str(built)
  config.train.epochs = 1
  results = loop.train_and_evaluate(config, str(tmp_path / 'run'))
  assert results['data'] == {'users': 60, 'items': 24, 'interactions': 360}
  assert all(0 <= value <= 1 for value in results['test'].values())
  assert os.path.exists(tmp_path / 'run' / 'results.json')


@pytest.mark.slow
def test_title_and_video_feature_tables_of_the_dataset(built, tmp_path):
  """`jaxlens extract --data custom/...`: tables keyed by the dataset's ids, as configs read."""
  data = ['--data=custom/vids', f'--data_dir={built}']
  assert extract_main(['--modality=title', *data, '--dim=4', f'--out={tmp_path}/title']) == 0
  note = item_features.read_note(str(tmp_path / 'title'))
  assert note['item_ids'] == list(range(1, 25)) and note['dim'] == 4 + 4  # 4 groups, one-hot
  assert note['columns'][1] == {'name': 'category:group', 'count': 4,
                                'values': ['g0', 'g1', 'g2', 'g3']}
  assert extract_main(['--modality=video', *data, '--encoder=tiny_c3d', '--init_from=random',
                       '--num_frames=4', '--frame_size=16', f'--out={tmp_path}/video']) == 0
  assert item_features.read_note(str(tmp_path / 'video'))['item_ids'] == list(range(1, 25))


def test_overwrite_extracts_videos_changed_under_the_same_names(content, tmp_path, capsys):
  shutil.copytree(content, tmp_path / 'content')
  flags = ['--name=vids', f'--interactions={tmp_path}/content/interactions.csv',
           f'--videos={tmp_path}/content/videos', '--num_frames=4', '--frame_size=16',
           f'--data_dir={tmp_path}/tfds']
  assert custom_tables.build(capsys, *flags)[0] == 0
  first, second = (ITEMS.index(item) + 1 for item in ('clip-01', 'clip-02'))
  old = tfds_source.ItemFrames('custom/vids', f'{tmp_path}/tfds').frames(first)
  shutil.copy(tmp_path / 'content' / 'videos' / 'clip-02.mp4',
              tmp_path / 'content' / 'videos' / 'clip-01.mp4')
  assert custom_tables.build(capsys, *flags, '--overwrite')[0] == 0
  frames = tfds_source.ItemFrames('custom/vids', f'{tmp_path}/tfds')
  np.testing.assert_array_equal(frames.frames(first), frames.frames(second))
  assert not np.array_equal(frames.frames(first), old)
