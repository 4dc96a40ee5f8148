"""Record files whose bytes depend on the records' content only.

TFDS stores a record as a `tf.train.Example`, whose features are a protobuf map, and the upb
protobuf runtime writes map entries in the order of a hash table seeded anew in every process:
the same record gets other bytes in another process (a Beam worker, a second run). This writer,
TFDS's hook for custom writers, serializes every record again with the map keys sorted, so the
files are the same whatever runner, workers or run wrote them.
"""

from __future__ import annotations

import tensorflow_datasets as tfds
from tensorflow_datasets.proto import tf_example_pb2


def canonical(serialized: bytes) -> bytes:
  return tf_example_pb2.Example.FromString(serialized).SerializeToString(deterministic=True)


class DeterministicExampleWriter(tfds.core.ExampleWriter):

  def write(self, path, examples):
    return super().write(path, ((key, canonical(data)) for key, data in examples))
