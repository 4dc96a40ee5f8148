"""TFDS metadata holding values that a Beam pipeline computes.

TFDS saves a dataset's metadata after the pipeline has run. A value the pipeline computes is
written by the pipeline as a JSON file next to the output (a path every runner's workers can
reach: `gs://` on Dataflow), and read in when TFDS saves the metadata. TFDS's own
`BeamMetadataDict` writes such files into the launching machine's temporary folder, which
remote workers cannot reach.
"""

from __future__ import annotations

import json

from etils import epath
import tensorflow_datasets as tfds


class PipelineMetadata(tfds.core.MetadataDict):
  """A `MetadataDict` some of whose values are JSON files that a pipeline writes."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._files: dict[str, str] = {}

  def set_from_file(self, key: str, path: str) -> None:
    """`key` will hold the JSON value in `path`, once the pipeline has written it."""
    self[key] = None  # holds the key's place: the saved JSON keeps insertion order
    self._files[key] = path

  def save_metadata(self, data_dir):
    for key, path in self._files.items():
      written = epath.Path(path)
      self[key] = json.loads(written.read_text())
      written.unlink()
    self._files = {}
    super().save_metadata(data_dir)
