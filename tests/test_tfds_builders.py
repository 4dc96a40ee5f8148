"""The `microlens` and `microlens_frames` builders, built without TensorFlow and read back."""

import concurrent.futures
import os
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxlens.builders import subset as build
from jaxlens.builders.__main__ import main as build_main
from jaxlens.builders import extraction
from jaxlens.builders import frames
from jaxlens.builders import item_files
from jaxlens.builders import sources
from jaxlens.data import pairs
from jaxlens.data import releases
from jaxlens.data.tfds_source import decode_jpeg
from jaxlens.data import tfds_source
from jaxlens.errors import JaxlensError
from jaxlens.builders import microlens
from tests.tfds_test_videos import frame_index, write_dummy_videos

DUMMY_DATA = os.path.join(os.path.dirname(__file__), '..', 'tfds_builders', 'microlens',
                          'dummy_data')
SUBSET = 'microlens/100k'


def manual_copy(folder) -> str:
  """dummy_data plus its generated videos, in a writable folder."""
  folder = os.fspath(folder)
  shutil.copytree(DUMMY_DATA, folder)
  write_dummy_videos(folder)
  return folder


@pytest.fixture(scope='module')
def dummy_manual(tmp_path_factory) -> str:
  return manual_copy(tmp_path_factory.mktemp('dummy') / 'manual')


@pytest.fixture(scope='module')
def dummy_built(dummy_manual, tmp_path_factory) -> str:
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  build.build_subset('100k', data_dir=data_dir, manual_dir=dummy_manual, num_workers=1)
  return data_dir


def item_records(data_dir):
  builder = tfds.builder_from_directory(os.path.join(data_dir, 'microlens_frames', '100k', '1.0.0'))
  source = builder.as_data_source('train')
  return builder, {int(r['item_id']): r for r in source.__getitems__(range(len(source)))}


def test_split_sizes_and_interactions_match_the_pairs_parser(dummy_built, dummy_manual):
  histories = tfds_source.load_interactions(SUBSET, dummy_built)
  expected = pairs.read_pairs(os.path.join(dummy_manual, 'MicroLens-100k_pairs.tsv'))
  assert [h.user for h in histories] == [h.user for h in expected] == ['1', '2', '3', '4', '5']
  for got, want in zip(histories, expected):
    np.testing.assert_array_equal(got.items, want.items)
    assert got.timestamps is None  # the tsv has none; the dataset stores positions
  assert len(tfds_source.ItemFrames(SUBSET, dummy_built)) == 4


def test_item_record_holds_metadata_cover_and_flags(dummy_built):
  builder, records = item_records(dummy_built)
  first = records[1]
  assert first['title'].decode() == 'a grey ramp, counting frames'
  assert first['category'].decode() == 'Anime'
  assert (first['likes'], first['views']) == (12000, 414000)
  assert decode_jpeg(first['cover'], 'cover 1').shape == (18, 32, 3)
  assert records[2]['cover'] == b''  # not a JPEG: dropped
  assert records[3]['cover'] == b'' and records[3]['likes'] == 5
  statuses = {i: r['video_status'].decode() for i, r in records.items()}
  assert statuses == {1: 'ok', 2: 'short-repeated', 3: 'unreadable', 4: 'missing'}
  metadata = builder.info.metadata
  assert metadata['video_status_counts'] == {
      'ok': 1, 'short-repeated': 1, 'unreadable': 1, 'missing': 1}
  assert metadata['unknown_item_lines'] == {'title': 1, 'likes_views': 0, 'category': 0}
  assert list(records[2]['frame_indices']) == [0, 0, 1, 2, 2]


def test_item_frames_decode_the_middle_of_a_known_video(dummy_built):
  items = tfds_source.ItemFrames(SUBSET, dummy_built)
  clip = items.frames(1)
  assert clip.dtype == np.uint8 and clip.shape == (5, 224, 224, 3)
  np.testing.assert_allclose([frame_index(f) for f in clip], [13, 14, 15, 16, 17], atol=0.49)
  np.testing.assert_allclose([frame_index(f) for f in items.frames(2)], [0, 0, 1, 2, 2], atol=0.49)
  for bad in (3, 4):
    np.testing.assert_array_equal(items.frames(bad), 0)
  assert items.status(4) == 'missing'
  small = tfds_source.ItemFrames(SUBSET, dummy_built, num_frames=3, size=(16, 24))
  assert small.load_all([1, 2]).shape == (2, 3, 16, 24, 3)
  np.testing.assert_allclose([frame_index(f) for f in small.frames(1)], [14, 15, 16], atol=0.49)
  with pytest.raises(JaxlensError, match='item 99 is not in'):
    items.frames(99)


class FakeDownloadManager:
  """Serves the official URLs from a folder laid out like the site; counts what it served."""

  def __init__(self, site: str, download_dir: str):
    self.site, self.download_dir, self._manual_dir = site, download_dir, None
    self.downloaded_size, self.urls = 0, []

  def download(self, url_or_urls):
    if isinstance(url_or_urls, dict):
      return {k: self.download(u) for k, u in url_or_urls.items()}
    base = releases.RELEASES['100k'].base_url
    assert url_or_urls.startswith(base), url_or_urls
    self.urls.append(url_or_urls)
    relative = url_or_urls[len(base):]
    source = os.path.join(self.site, relative)
    if not os.path.isfile(source):
      raise OSError(f'404 {url_or_urls}')
    target = os.path.join(self.download_dir, relative.replace('/', '_'))
    shutil.copy(source, target)
    return target


def test_download_path_fetches_official_urls_and_frees_videos(tmp_path, monkeypatch, dummy_built):
  site = manual_copy(tmp_path / 'site')
  downloads = tmp_path / 'downloads'
  downloads.mkdir()
  fake = FakeDownloadManager(site, str(downloads))
  monkeypatch.setattr(tfds.core.DatasetBuilder, '_make_download_manager', lambda *a, **k: fake)
  build.build_subset('100k', data_dir=str(tmp_path / 'tfds'), num_workers=1)
  base = releases.RELEASES['100k'].base_url
  assert {base + 'MicroLens-100k_pairs.tsv', base + 'MicroLens-100k_title_en.csv',
          base + 'MicroLens-100k_videos/1.mp4', base + 'MicroLens-100k_covers/1.jpg'
          } <= set(fake.urls)
  assert not list(downloads.glob('*.mp4'))  # each video is deleted once its frames are out
  _, downloaded = item_records(str(tmp_path / 'tfds'))
  _, manual = item_records(dummy_built)
  assert downloaded.keys() == manual.keys()
  for item, record in manual.items():
    assert downloaded[item]['frames'] == record['frames']
    assert downloaded[item]['video_status'] == record['video_status']


def test_extraction_resumes_from_finished_shards(dummy_manual, tmp_path):
  release = releases.RELEASES['100k']

  class CountingMedia(sources.LocalMedia):
    fetched = []

    def fetch(self, item_ids):
      self.fetched.extend(item_ids)
      return super().fetch(item_ids)

  media = CountingMedia(os.path.join(dummy_manual, release.videos_dir),
                        os.path.join(dummy_manual, release.covers_dir))
  options = frames.FrameOptions(height=8, width=8)
  run = lambda: list(extraction.extract_items([1, 2, 3, 4], media, options, str(tmp_path), 1, 2))
  first = run()
  os.remove(tmp_path / 'shard-00001-of-00002.npz')  # as if interrupted during the second shard
  second = run()
  assert CountingMedia.fetched == [1, 2, 3, 4, 3, 4]
  assert first == second


def test_a_process_pool_starts_only_once_a_shard_is_slow(dummy_manual, tmp_path, monkeypatch):
  """Shards quicker than `pool_after_seconds` are extracted in this process; once one is slower,
  a pool of processes extracts the rest, to the same clips."""
  release = releases.RELEASES['100k']
  media = sources.manual_media(release, dummy_manual)
  options = frames.FrameOptions(height=8, width=8)
  pools, pool_class = [], concurrent.futures.ProcessPoolExecutor

  def recorded_pool(*args, **kwargs):
    pools.append(pool_class(*args, **kwargs))
    return pools[-1]

  monkeypatch.setattr(concurrent.futures, 'ProcessPoolExecutor', recorded_pool)
  extract = lambda work, seconds: list(extraction.extract_items(
      [1, 2, 3, 4], media, options, str(tmp_path / work), 2, 2, pool_after_seconds=seconds))
  in_process = extract('quick', 60.0)
  assert not pools
  assert extract('slow', 0.0) == in_process and len(pools) == 1
  assert len(in_process) == 4


class _Payload:
  """Unpickling this creates a file: proof that loading ran code."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (open, (self.marker, 'w'))


def test_planted_shard_file_never_runs_code(dummy_manual, tmp_path):
  """The work dir sits in the data dir; a planted pickle there must not run when a build resumes."""
  release = releases.RELEASES['100k']
  media = sources.manual_media(release, dummy_manual)
  options = frames.FrameOptions(height=8, width=8)
  work = tmp_path / 'work'
  want = list(extraction.extract_items([1, 2, 3, 4], media, options, str(work), 1, 2))
  marker = tmp_path / 'code-ran'
  planted = work / 'shard-00000-of-00002.npz'
  with open(planted, 'wb') as f:  # an .npz holding a pickled object array
    np.savez(f, item_ids=np.array([_Payload(str(marker))], dtype=object))
  assert list(extraction.extract_items([1, 2, 3, 4], media, options, str(work), 1, 2)) == want
  assert not marker.exists()
  assert extraction.load_shard(str(planted)) == want[:2]  # extracted again and rewritten


def test_missing_manual_dir_says_which_files_to_put_where(tmp_path, capsys):
  with pytest.raises(JaxlensError, match=r'nope is not a folder: put .*MicroLens-100k_pairs\.tsv.*'
                     r'MicroLens-100k_videos/<item>\.mp4'):
    build.build_subset('100k', data_dir=str(tmp_path), manual_dir=str(tmp_path / 'nope'))
  assert build_main(['microlens', '--config=50k', f'--manual_dir={tmp_path}']) == 2
  assert 'holds no pairs file: put the MicroLens 50k files there' in capsys.readouterr().err


def test_malformed_pairs_line_names_file_and_line(tmp_path):
  manual = manual_copy(tmp_path / 'manual')
  path = os.path.join(manual, 'MicroLens-100k_pairs.tsv')
  with open(path, 'a', encoding='utf-8') as f:
    f.write('6\t1 two 3\r\n')
  with pytest.raises(JaxlensError, match=r'MicroLens-100k_pairs\.tsv:6: item .two. is not'):
    build.build_subset('100k', data_dir=str(tmp_path / 'tfds'), manual_dir=manual)


def test_item_files_parse_both_title_formats_and_count_unknown_ids(tmp_path):
  path = tmp_path / 'titles.csv'
  path.write_text('item,title\r\n1,"a, quoted ""title"""\r\n7,"x"\r\n', encoding='utf-8')
  assert item_files.read_titles(str(path), {1, 2}) == ({1: 'a, quoted "title"'}, 1)
  path.write_text('1, plain, with a comma\n3x, bad\n', encoding='utf-8')
  with pytest.raises(JaxlensError, match=r'titles\.csv:2: item id .3x. is not an integer'):
    item_files.read_titles(str(path), {1})


def test_unbuilt_real_subset_names_the_build_command(tmp_path):
  with pytest.raises(JaxlensError, match=r'jaxlens build microlens --config=50k'
                     r'.*--manual_dir=DIR, with DIR holding MicroLens-50k_pairs\.tsv'):
    build.ensure_built('microlens/50k', str(tmp_path))


@pytest.mark.slow
def test_50k_interactions_from_the_real_files(microlens_data_dir, tmp_path):
  folder = os.path.join(microlens_data_dir, 'microlens-50k')
  builder = microlens.MicroLens(config='50k', data_dir=str(tmp_path))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=folder))
  histories = tfds_source.load_interactions('microlens/50k', str(tmp_path))
  items = {int(i) for h in histories for i in h.items}
  assert len(histories) == 50_000
  assert len(items) == 19_220
  assert sum(len(h.items) for h in histories) == 359_708
  titles, unknown = item_files.read_titles(os.path.join(folder, 'MicroLens-50k_titles.csv'), items)
  assert (len(titles), unknown) == (19_220, 0)
  other = os.path.join(microlens_data_dir, 'microlens-100k-items')
  titles, unknown = item_files.read_titles(
      os.path.join(other, 'MicroLens-100k_title_en.csv'), items)
  assert len(titles) + unknown == 19_738 and len(titles) == 19_220
  likes, _ = item_files.read_likes_and_views(
      os.path.join(other, 'MicroLens-100k_likes_and_views.txt'), items)
  categories, _ = item_files.read_categories(os.path.join(other, 'tags_to_summary.csv'), items)
  assert len(likes) == len(categories) == 19_220

