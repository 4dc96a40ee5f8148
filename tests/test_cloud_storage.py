"""A run whose workdir and pairs file live in a Cloud Storage bucket, end to end, offline
(`tests.gcs_emulator`), and the checksums of its checkpoints there."""

import pytest
from etils import epath
from google.cloud import storage

from jaxlens import paths
from jaxlens.data import pairs, synthetic
from jaxlens.train import checkpoint, checksums, loop
from tests import helpers
from tests.gcs_emulator import BUCKET, bucket  # pylint: disable=unused-import  # a fixture

pytestmark = pytest.mark.slow  # trains against a Cloud Storage emulator


def test_path_layer_on_a_bucket_and_locally(bucket, tmp_path):
  for root in (bucket, str(tmp_path)):
    target = paths.resolve(root) / 'notes' / 'results.json'
    target.parent.mkdir(parents=True, exist_ok=True)
    paths.write_json(target, {'HR@10': 0.5})
    assert paths.read_json(target) == {'HR@10': 0.5}
    assert [p.name for p in target.parent.iterdir()] == ['results.json']  # no temporary left


def test_training_with_the_workdir_and_data_in_a_bucket(bucket, tmp_path):
  local = tmp_path / 'toy_pairs.tsv'
  helpers.write_pairs(local, synthetic.sequential_interactions(users=40))
  remote = f'{bucket}/data/toy_pairs.tsv'
  epath.Path(remote).write_bytes(local.read_bytes())
  assert len(pairs.read_pairs(remote)) == 40
  local_config = helpers.tiny_config()
  local_config.data.pairs_path = str(local)
  want = loop.train_and_evaluate(local_config, str(tmp_path / 'local'))  # 2 epochs
  config = helpers.tiny_config()
  config.data.pairs_path, config.train.epochs = remote, 1
  workdir = f'{bucket}/runs/sasrec'
  loop.train_and_evaluate(config, workdir)
  assert sorted(p.name for p in epath.Path(f'{workdir}/checkpoints').iterdir()) == [
      '3', 'committed.json']
  assert checkpoint.holds_a_run(workdir)  # so its config.json guards the resume
  config.train.epochs = 2  # resumes from the bucket's checkpoint at step 3
  got = loop.train_and_evaluate(config, workdir)
  assert got['test'] == want['test'] and got['history'] == [
      {**h, 'elapsed_seconds': g['elapsed_seconds']} for h, g in zip(want['history'],
                                                                    got['history'])]
  written = {p.name for p in epath.Path(workdir).iterdir()}
  assert {'config.json', 'results.json', 'checkpoints', 'tensorboard'} <= written
  assert 'run.lock' not in written  # the lease, released
  assert paths.read_json(f'{workdir}/results.json')['test'] == want['test']
  # Each step's manifest holds the CRC32C the bucket keeps: an object written over is damage,
  # moved aside in the bucket, and the previous step restored.
  assert checksums.check(f'{workdir}/checkpoints/6') is None
  damaged = storage.Client().bucket(BUCKET).blob('runs/sasrec/checkpoints/6/state/_METADATA')
  saved = damaged.download_as_bytes()
  damaged.upload_from_string(saved[:100])
  assert checksums.check(f'{workdir}/checkpoints/6') == (
      f'state/_METADATA has 100 bytes, {len(saved)} were saved')
  state, _ = checkpoint.Checkpoints(workdir).restore_latest(helpers.train_state(config))
  assert int(state.step) == 3
  assert sorted(p.name for p in epath.Path(f'{workdir}/checkpoints').iterdir()) == [
      '3', '6.damaged', 'committed.json']
