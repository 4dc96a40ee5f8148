"""TensorBoard scalars, written by the main process only.

The event file is written here rather than through a TensorBoard library: scalars are all a run
writes, the format is small (TFRecord framing around `Event` protos, below), and the writers
that exist import PyTorch or TensorFlow when they are installed, seconds at every start.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time

import google_crc32c

from jaxlens import paths


def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    byte, value = value & 0x7F, value >> 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
  """A length-delimited protobuf field (wire type 2)."""
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def event(wall_time: float, step: int, *, file_version: str = '',
          scalars: dict[str, float] | None = None) -> bytes:
  """An `Event` proto (tensorflow/core/util/event.proto): wall_time = 1 (double), step = 2,
  file_version = 3 or summary = 5, a `Summary` of `Value`s {tag = 1, simple_value = 2 (float)}."""
  proto = b'\x09' + struct.pack('<d', wall_time) + b'\x10' + _varint(step)
  if file_version:
    proto += _field(3, file_version.encode())
  if scalars:
    values = b''.join(_field(1, _field(1, tag.encode()) + b'\x15' + struct.pack('<f', value))
                      for tag, value in scalars.items())
    proto += _field(5, values)
  return proto


def _masked_crc(data: bytes) -> int:
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
  """A TFRecord: length, its masked CRC-32C, the data, the data's masked CRC-32C."""
  length = struct.pack('<Q', len(data))
  return (length + struct.pack('<I', _masked_crc(length)) + data +
          struct.pack('<I', _masked_crc(data)))


_TAG_OUTSIDE = re.compile(r'[^-/\w.]')  # as TensorBoard's writers clean tags: NDCG@10 -> NDCG_10


class Summary:

  def __init__(self, workdir: str, enabled: bool):
    self._file = None
    if enabled:
      folder = paths.resolve(workdir) / 'tensorboard'  # a bucket's file shows when closed
      folder.mkdir(parents=True, exist_ok=True)
      now = time.time()
      name = f'events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}'
      self._file = (folder / name).open('wb')  # pylint: disable=consider-using-with
      self._file.write(record(event(now, 0, file_version='brain.Event:2')))

  def scalars(self, step: int, values: dict[str, float]) -> None:
    if self._file is not None:
      scalars = {_TAG_OUTSIDE.sub('_', name): float(value) for name, value in values.items()}
      self._file.write(record(event(time.time(), step, scalars=scalars)))
      self._file.flush()

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
      self._file = None
