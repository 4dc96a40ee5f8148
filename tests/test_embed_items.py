"""jaxlens embed_items: videos written after training reach the users of their category at about
the evaluator's cold HR@10, the real MicroLens videos decode and join, and what cannot be
embedded is one line with the export left as it was.

The toy run is exported once (exporting restores the run, encodes its items and serializes its
functions for three platforms); each test embeds into its own copy. Each run is restored once
for the whole file (`serving_runs.restoring_once`)."""

import json
import shutil

import numpy as np
import pyarrow.parquet
import pytest

from jaxlens import embed_items, recommend
from jaxlens import export as export_command
from jaxlens.builders import toy
from jaxlens.data import synthetic
from jaxlens.serving import exported
from jaxlens.train import loop
from tests import helpers

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('restoring_once')]

NEW_ID = 100_000  # new videos are NEW_ID + n, n past the toy's 400 items
REAL_VIDEOS = ('1002', '10034', '10040')


def _run(main, *args):
  return main([str(a) for a in args])


@pytest.fixture(scope='module')
def toy_export(toy_run, tmp_path_factory):
  """The toy run's export, to be copied before it is changed."""
  directory = tmp_path_factory.mktemp('export') / 'export'
  assert _run(export_command.main, '--workdir', toy_run.workdir, '--out', directory) == 0
  return directory


@pytest.fixture
def export_copy(toy_export, tmp_path):
  """A copy of the toy run's export, this test's to change."""
  return shutil.copytree(toy_export, tmp_path / 'export')


def _category(item: int) -> int:
  """The toy's category of an item (round robin over 8), new ones by their toy number."""
  return (item - NEW_ID if item > NEW_ID else item) % toy.ToySpec().num_categories


def test_new_videos_reach_the_users_of_their_category(toy_run, export_copy, tmp_path, capsys):
  spec = toy.ToySpec()
  numbers = range(spec.num_items + 1, spec.num_items + 1 + spec.num_categories)
  videos = tmp_path / 'videos'
  videos.mkdir()
  render = toy.ToySpec(num_items=numbers[-1])  # the toy's videos, for items past its last
  for n in numbers:
    toy.write_mp4(str(videos / f'{NEW_ID + n}.mp4'), toy.render_video(n, render))
  directory = export_copy
  assert _run(embed_items.main, '--workdir', toy_run.workdir, '--export', directory,
              '--videos', videos) == 0
  out = tmp_path / 'recs.parquet'
  assert _run(recommend.main, '--workdir', toy_run.workdir, '--export', directory,
              '--all_users', '--out', out) == 0
  table = pyarrow.parquet.read_table(out).to_pydict()
  top = {}
  for user, item in zip(table['user'], table['item']):
    top.setdefault(user, set()).add(item)
  data = toy_run.restored.data
  majority = {user: np.bincount([_category(int(data.original_item_ids[i]))
                                 for i in sequence[sequence > 0]], minlength=8).argmax()
              for user, sequence in zip(data.users, data.sequences)}
  rates = []
  for n in numbers:
    users = [user for user, category in majority.items() if category == _category(n)]
    rates.append(np.mean([NEW_ID + n in top[user] for user in users]))
  rate, cold = float(np.mean(rates)), toy_run.results['test_cold']['HR@10']
  with capsys.disabled():  # the figures the docs report
    print(f'\nnew videos in the top 10 of their category\'s users: {rate:.3f}; the evaluator\'s '
          f'cold HR@10: {cold:.3f}; a random top 10: {10 / 408:.3f}')
  assert rate > 3 * 10 / 408  # content ranks them, not chance
  assert 0.5 * cold <= rate <= 3 * cold
  # The exported query function ranks them at once, as recommend --export does.
  history = [NEW_ID + n for n in numbers[:3]]
  by_recommend = tmp_path / 'history.jsonl'
  assert _run(recommend.main, '--workdir', toy_run.workdir, '--export', directory, '--history',
              ','.join(map(str, history)), '--out', by_recommend) == 0
  want = json.loads(by_recommend.read_text())['items']
  served = exported.Export.load(str(directory))
  rows = served.rows_of(history)[None]
  scores, top = served.top_k(served.query(history=rows), 10, exclude=rows)
  assert served.item_ids[top[0]].tolist() == [item['item'] for item in want]
  np.testing.assert_allclose(scores[0], [item['score'] for item in want], rtol=1e-5, atol=1e-5)
  capsys.readouterr()


def test_real_microlens_videos_decode_and_join(toy_run, export_copy, tmp_path, microlens_data_dir,
                                               capsys):
  videos = tmp_path / 'videos'
  videos.mkdir()
  for item in REAL_VIDEOS:
    shutil.copy(f'{microlens_data_dir}/microlens-media/videos/{item}.mp4', videos)
  directory = export_copy
  assert _run(embed_items.main, '--workdir', toy_run.workdir, '--export', directory,
              '--videos', videos) == 0
  served = exported.Export.load(str(directory))
  assert served.item_ids[-3:].tolist() == sorted(map(int, REAL_VIDEOS))
  assert np.all(np.isfinite(served.items[-3:])) and np.all(np.abs(served.items[-3:]).sum(1) > 0)
  assert len({tuple(np.round(row, 5)) for row in served.items[-3:]}) == 3  # three videos
  assert _run(recommend.main, '--workdir', toy_run.workdir, '--export', directory, '--history',
              ','.join(REAL_VIDEOS)) == 0
  capsys.readouterr()


def _unchanged(directory, before):
  assert json.loads((directory / 'note.json').read_text()) == before
  assert not list(directory.glob('*.tmp'))


def test_what_cannot_be_embedded_is_one_line(toy_run, export_copy, tmp_path, capsys):
  directory = export_copy
  before = json.loads((directory / 'note.json').read_text())
  capsys.readouterr()
  clash, broken = tmp_path / 'clash', tmp_path / 'broken'
  clash.mkdir()
  broken.mkdir()
  toy.write_mp4(str(clash / '7.mp4'), toy.render_video(7, toy.ToySpec()))
  (broken / '500000.mp4').write_bytes(b'not a video')
  for args, message in (((('--videos', clash)), 'already holds item(s) 7'),
                        ((('--videos', broken)), 'unreadable'),
                        ((('--videos', tmp_path / 'none')), 'no such folder'),
                        ((('--covers', clash)), 'from --videos, not --covers')):
    assert _run(embed_items.main, '--workdir', toy_run.workdir, '--export', directory,
                *args) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err and err.count('\n') == 1, (args, err)
    _unchanged(directory, before)


def test_an_id_only_tower_refuses(tmp_path, capsys):
  pairs = tmp_path / 'pairs.tsv'
  helpers.write_pairs(pairs, synthetic.sequential_interactions())
  config = helpers.tiny_config()
  config.data.pairs_path, config.train.epochs = str(pairs), 1
  workdir = tmp_path / 'run'
  loop.train_and_evaluate(config, str(workdir))
  directory = tmp_path / 'export'
  assert _run(export_command.main, '--workdir', workdir, '--out', directory) == 0
  videos = tmp_path / 'videos'
  videos.mkdir()
  toy.write_mp4(str(videos / '500.mp4'), toy.render_video(5, toy.ToySpec()))
  assert _run(embed_items.main, '--workdir', workdir, '--export', directory, '--videos',
              videos) == 2
  err = capsys.readouterr().err
  assert "the 'id' item tower has nothing to embed a new item with" in err


def test_new_titles_get_the_tables_own_map(tmp_path):
  """A title featurised as a new item gives its row of the title table (same TF-IDF, same SVD,
  same category columns), and an item without a title is one line."""
  from jaxlens.data import item_features  # pylint: disable=g-import-not-at-top
  from jaxlens.errors import JaxlensError  # pylint: disable=g-import-not-at-top
  from jaxlens.extract import title_features  # pylint: disable=g-import-not-at-top
  from jaxlens.serving import new_items  # pylint: disable=g-import-not-at-top
  kinds = ('pet', 'game', 'music', 'travel')
  titles, categories = tmp_path / 'titles.csv', tmp_path / 'tags.csv'
  titles.write_text(''.join(f'{i}, video {i} about a {kinds[i % 4]} day\n' for i in range(1, 61)))
  categories.write_text(''.join(f'{i},{kinds[i % 4].title()}\n' for i in range(1, 61)))
  title_features.extract(str(titles), str(tmp_path / 'table'), dim=6,
                         categories_path=str(categories))
  note = item_features.read_note(str(tmp_path / 'table'))
  new = tmp_path / 'new.csv'
  new.write_text('9001, video 7 about a travel day\n')
  seen = []
  rows, described = new_items._title_features(  # pylint: disable=protected-access
      note, new_items.NewContent(titles=str(new), categories=str(categories)), seen.extend)
  table = item_features.load_rows(str(tmp_path / 'table'), np.asarray([7]))[0]
  np.testing.assert_allclose(rows[9001][:6], table[:6], rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(rows[9001][6:], 0)  # 9001 has no category in the file
  assert seen == [9001] and described[9001] == ('video 7 about a travel day', '')
  new.write_text('9002,\n')
  with pytest.raises(JaxlensError, match='9002 have no title'):
    new_items._title_features(note, new_items.NewContent(titles=str(new)),  # pylint: disable=protected-access
                              seen.extend)
