"""The TensorBoard event file reads back through TensorBoard's own protobuf schema (tensorboardX's
copy of event.proto) and TFRecord framing with checked CRCs."""

import glob
import struct

import google_crc32c
import numpy as np
from tensorboardX.proto import event_pb2

from jaxlens.train.summary import Summary


def _masked_crc(data: bytes) -> int:
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path):
  with open(path, 'rb') as f:
    data = f.read()
  at = 0
  while at < len(data):
    header = data[at:at + 8]
    (length,) = struct.unpack('<Q', header)
    assert struct.unpack('<I', data[at + 8:at + 12])[0] == _masked_crc(header)
    body = data[at + 12:at + 12 + length]
    assert struct.unpack('<I', data[at + 12 + length:at + 16 + length])[0] == _masked_crc(body)
    yield event_pb2.Event.FromString(body)
    at += 16 + length
  assert at == len(data)


def test_scalars_read_back_through_the_event_schema(tmp_path):
  summary = Summary(str(tmp_path), enabled=True)
  summary.scalars(3, {'train/loss': 4.25, 'valid/NDCG@10': np.float32(0.171)})
  summary.scalars(300, {'train/loss': 1e-3})
  summary.close()
  (path,) = glob.glob(str(tmp_path / 'tensorboard' / 'events.out.tfevents.*'))
  events = list(_records(path))
  assert events[0].file_version == 'brain.Event:2'
  got = [(e.step, v.tag, v.simple_value) for e in events[1:] for v in e.summary.value]
  assert [(step, tag) for step, tag, _ in got] == [
      (3, 'train/loss'), (3, 'valid/NDCG_10'), (300, 'train/loss')]  # '@' cleaned as before
  np.testing.assert_allclose([value for *_, value in got], [4.25, 0.171, 1e-3], rtol=1e-7)
  assert all(e.wall_time > 1.7e9 for e in events)


def test_a_process_other_than_the_first_writes_nothing(tmp_path):
  summary = Summary(str(tmp_path), enabled=False)
  summary.scalars(1, {'train/loss': 1.0})
  summary.close()
  assert not (tmp_path / 'tensorboard').exists()
