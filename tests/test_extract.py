"""Frozen feature extraction: equal to the video tower in eval mode, resumable to the same table
after a kill, titles deterministic, bad tables refused in one line."""

import json
import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlens import sharding
from jaxlens.convert import pretrained
from jaxlens.data import item_features, synthetic
from jaxlens.data.normalize import normalize
from jaxlens.errors import JaxlensError
from jaxlens.eval.evaluation import eval_view
from jaxlens.extract import encoder_features, partial_table, title_features
from jaxlens.models.video import registry as encoders
from jaxlens.train import configuration, loop
from tests import helpers

FRAMES, SIZE = 4, 16


def _saved_tiny_c3d(folder) -> str:
  """A random tiny_c3d with drawn BatchNorm running statistics (so eval mode matters), saved
  as `python -m jaxlens.convert` would."""
  module = encoders.get('tiny_c3d').build(output='features', rngs=nnx.Rngs(3))
  rng = np.random.default_rng(0)
  for _, var in nnx.to_flat_state(nnx.state(module, nnx.BatchStat)):
    var.set_value(jnp.asarray(rng.uniform(0.5, 1.5, var.get_value().shape), jnp.float32))
  pretrained.save_encoder(module, folder, {'encoder': 'tiny_c3d', 'output_mode': 'features'})
  return str(folder)


def _extract(out, item_ids, init_from='random', chunk=16, **settings):
  encoder_features.extract(
      synthetic.RandomFrames(FRAMES, SIZE), item_ids,
      encoder_features.EncoderSettings('tiny_c3d', init_from, num_frames=FRAMES, frame_size=SIZE,
                                       **settings),
      str(out), modality='video', source='random frames', chunk=chunk, show_progress=False)
  return np.load(os.path.join(out, item_features.TABLE_FILE)), item_features.read_note(str(out))


def test_extraction_equals_the_video_tower_encoder_in_eval_mode(tmp_path):
  """Same weights, items over 8 devices in chunks against the tower's encoder on one device:
  equal to 1e-5 (float32 sums in another order)."""
  weights = _saved_tiny_c3d(tmp_path / 'weights')
  data = synthetic.sequential_interactions()
  table, note = _extract(tmp_path / 'table', data.original_item_ids[1:], init_from=weights)
  assert note['item_ids'] == data.original_item_ids[1:].tolist() and table.shape == (30, 64)
  assert note['init_from'] == weights and note['modality'] == 'video'
  config = helpers.tiny_video_config(train_mode='frozen')
  config.model.encoder.init_from = weights
  config.mesh.data = 1
  trainer = loop.build_trainer(config, data, sharding.make_mesh(config.mesh, jax.devices()[:1]),
                               new_run=True)
  tower = eval_view(trainer.model(trainer.state)).item_tower
  clips = jnp.asarray(synthetic.RandomFrames(FRAMES, SIZE).load_all(data.original_item_ids[1:]))
  np.testing.assert_allclose(table, tower.content.encoder(normalize(clips)), atol=1e-5, rtol=0)
  np.testing.assert_allclose(jax.nn.gelu(tower.content.projection(table), approximate=False),
                             tower.encode(clips), atol=1e-5, rtol=0)


def test_a_killed_extraction_resumes_to_the_same_table(tmp_path, monkeypatch):
  item_ids = np.arange(1, 41) * 7
  whole, whole_note = _extract(tmp_path / 'whole', item_ids, chunk=8)
  commit = partial_table.PartialTable.commit
  for kill_after_rows in (False, True):  # killed after a commit, or with a chunk half-saved

    def killed(self, index, rows, kill_after_rows=kill_after_rows):
      if index == 2:
        if kill_after_rows:
          self._rows[16:24] = -1.0  # pylint: disable=protected-access  # rows, no progress
        raise KeyboardInterrupt('killed')
      commit(self, index, rows)

    out = tmp_path / f'killed_{kill_after_rows}'
    monkeypatch.setattr(partial_table.PartialTable, 'commit', killed)
    with pytest.raises(KeyboardInterrupt):
      _extract(out, item_ids, chunk=8)
    assert not os.path.exists(out / item_features.NOTE_FILE)
    assert json.loads((out / partial_table.PROGRESS_FILE).read_text())['chunks'] == 2
    monkeypatch.setattr(partial_table.PartialTable, 'commit', commit)
    resumed, note = _extract(out, item_ids, chunk=8)
    np.testing.assert_array_equal(resumed, whole)
    assert note == whole_note and not os.path.exists(out / partial_table.PROGRESS_FILE)
  with pytest.raises(JaxlensError, match=r'holds a finished table of other settings: '
                                         r"dtype \('float32' -> 'bfloat16'\)"):
    _extract(tmp_path / 'whole', item_ids, chunk=8, dtype='bfloat16')


_PROCESS = """
import sys
from jaxlens import launch
launch.join_cluster(f'localhost:{sys.argv[2]}', 2, int(sys.argv[1]))
import numpy as np
from jaxlens.data import synthetic
from jaxlens.extract import encoder_features
encoder_features.extract(
    synthetic.RandomFrames(4, 16), np.arange(1, 41) * 7,
    encoder_features.EncoderSettings('tiny_c3d', 'random', num_frames=4, frame_size=16),
    sys.argv[3], modality='video', source='random frames', chunk=8, show_progress=False)
"""


def test_two_processes_give_the_one_process_table(tmp_path):
  """Two JAX processes of 4 CPU devices each: each loads its slice of every chunk, process 0
  writes."""
  with socket.socket() as probe:
    probe.bind(('localhost', 0))
    port = probe.getsockname()[1]
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS='--xla_force_host_platform_device_count=4')
  out = str(tmp_path / 'two')
  workers = [subprocess.Popen([sys.executable, '-c', _PROCESS, str(i), str(port), out],
                              cwd=helpers.REPO, env=env, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
  for worker in workers:
    _, stderr = worker.communicate(timeout=300)
    assert worker.returncode == 0, stderr[-2000:]
  one, note = _extract(tmp_path / 'one', np.arange(1, 41) * 7, chunk=8)
  np.testing.assert_allclose(np.load(os.path.join(out, item_features.TABLE_FILE)), one,
                             atol=1e-6, rtol=0)
  assert item_features.read_note(out)['item_ids'] == note['item_ids']


def _titles_files(folder):
  words = ['cat', 'dog', 'game', 'anime', 'cooking', 'dance', 'song', 'travel']
  rng = np.random.default_rng(0)
  titles = folder / 'titles.csv'
  titles.write_text('item,title\n' + ''.join(
      f'{item},"{" ".join(rng.choice(words, size=5))} #{words[item % 8]}"\n'
      for item in range(1, 61)), encoding='utf-8')
  categories = folder / 'tags.csv'
  categories.write_text('video_id, tag\n' + ''.join(
      f'{item},{["Game", "Anime", "Music"][item % 3]}\n' for item in range(1, 61)))
  return str(titles), str(categories)


def test_title_features_are_deterministic_with_category_columns(tmp_path):
  titles, categories = _titles_files(tmp_path)
  notes = [title_features.extract(titles, str(tmp_path / name), dim=8, categories_path=categories)
           for name in ('a', 'b')]
  first, second = (np.load(tmp_path / name / item_features.TABLE_FILE) for name in ('a', 'b'))
  np.testing.assert_array_equal(first, second)
  assert first.shape == (60, 8 + 3) and notes[0]['fingerprint'] == notes[1]['fingerprint']
  assert notes[0]['item_ids'] == list(range(1, 61)) and notes[0]['modality'] == 'title'
  assert notes[0]['columns'][1] == {'name': 'category', 'count': 3,
                                    'values': ['Anime', 'Game', 'Music']}
  np.testing.assert_array_equal(first[:, 8:].argmax(1), [[1, 0, 2][i % 3] for i in range(1, 61)])


def test_a_table_that_does_not_fit_the_config_or_data_is_one_line(tmp_path):
  data = synthetic.sequential_interactions()
  config = helpers.tiny_features_config(tmp_path / 'table')
  configuration.check(configuration.resolve(config))
  configuration.check_data(configuration.resolve(config), data)
  helpers.random_feature_table(tmp_path / 'part', data.original_item_ids[4:])
  config.model.features.path = str(tmp_path / 'part')
  with pytest.raises(JaxlensError, match=r"part lacks 3 of the dataset's 30 items \(ids 1, 2, "
                                         r'3\); extract features for this dataset$'):
    configuration.check_data(configuration.resolve(config), data)
  for key, value, message in [
      ('modality', 'title', r"holds video features, but config.model.features.modality='title'"),
      ('path', str(tmp_path / 'none'), r'none: no item-feature table \(features.json is missing'),
      ('path', '', r"item_tower='id\+features' needs config.model.features.path")]:
    bad = helpers.tiny_features_config(tmp_path / 'table')
    bad.model.features[key] = value
    with pytest.raises(JaxlensError, match=message):
      configuration.check(configuration.resolve(bad))
  config.model.item_tower = 'id'
  with pytest.raises(JaxlensError, match=r"config.model.features.path='.*part' is set, but it "
                                         r"applies only with config.model.item_tower='features' "
                                         r"or config.model.item_tower='id\+features'$"):
    configuration.check(configuration.resolve(config))


def test_command_line_errors_are_one_line(tmp_path):
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  run = lambda *args: subprocess.run([sys.executable, '-m', 'jaxlens.extract', *args],
                                     cwd=helpers.REPO, env=env, capture_output=True, text=True,
                                     timeout=120)
  result = run('--modality', 'title', '--out', str(tmp_path / 'out'))
  assert result.returncode == 2 and result.stderr == 'error: --modality title needs --titles\n'
  titles, _ = _titles_files(tmp_path)
  result = run('--modality', 'title', '--titles', titles, '--dim', '8', '--out',
               str(tmp_path / 'out'))
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'wrote {tmp_path}/out: 60 items x 8 title features' in result.stdout


def test_a_multi_process_launch_that_cannot_join_stops_with_one_line(tmp_path):
  """`jaxlens.launch`'s check, as for `python -m jaxlens.main`: a job started as several tasks
  whose processes cannot join stops before it reads anything, rather than extracting alone."""
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu', SLURM_NTASKS='2')
  result = subprocess.run(
      [sys.executable, '-m', 'jaxlens.extract', '--modality', 'video', '--data', 'microlens/toy',
       '--encoder', 'tiny_c3d', '--init_from', 'random', '--out', str(tmp_path / 'out')],
      cwd=helpers.REPO, env=env, capture_output=True, text=True, timeout=120)
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
  assert 'this is a multi-process launch (SLURM_NTASKS=2)' in errors[0]
  assert not (tmp_path / 'out').exists()
