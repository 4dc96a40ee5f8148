"""What the interactions builders share (`microlens`, `custom`): the two splits, built in memory
or with Apache Beam, with the same bytes either way.

Splits (the same features; `jaxlens.builders.interaction_records` makes every record):
- `train`: one record per user of the interactions file, in file order, with the dataset's ids;
  timestamps as the metadata `timestamps` says.
- `protocol`: one record per user that the protocol keeps, in the same order, with the last
  `max_seq_len + 3` items renumbered 1..N. The metadata `protocol` is its summary
  (`jaxlens.data.protocol.ProtocolSummary`): the protocol's parameters, the vocabulary
  (new id -> dataset id), train popularity counts, and user, item and interaction counts.

Two paths write the same datasets:
- in memory: the file's histories (`_read_histories`), then `jaxlens.data.protocol`;
- Apache Beam (`jaxlens.builders.beam_interactions`) for a file of `BEAM_FROM_BYTES` or more,
  when the config asks for it, and whenever Beam options or a runner are given
  (`--beam_pipeline_options`). `engine=` overrides the choice.
"""

from __future__ import annotations

import os
import uuid

from etils import epath
import tensorflow_datasets as tfds

from jaxlens.builders import interaction_records as records
from jaxlens.builders.beam_import import beam_module
from jaxlens.builders.deterministic_writer import DeterministicExampleWriter
from jaxlens.builders.pipeline_metadata import PipelineMetadata
from jaxlens.data import pairs
from jaxlens.data import protocol
from jaxlens.data.tfds_source import PROTOCOL_SPLIT, RAW_SPLIT
from jaxlens.errors import JaxlensError

# Files from this size on are built with Beam. The in-memory path holds every interaction: its
# peak memory grew by 290 MiB per million interactions, about 11 bytes per byte of csv
# (benchmarks/beam_build.py), so 256 MB of csv (9.5M interactions) take about 3 GB.
BEAM_FROM_BYTES = 256 << 20
ENGINES = ('memory', 'beam')
DEFAULT_FILE_FORMAT = 'array_record'  # jaxlens reads records by random access, without TF
_BEAM_PATH = 'jaxlens.builders.beam_interactions'  # imports Beam: the build venv only


class InteractionsBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A builder whose config has `max_seq_len`, `min_seq_len` and `beam` (always Beam)."""

  HOMEPAGE: str | None = None
  # Parses a line of a `.csv` interactions file: (user, item, timestamp), None for a blank one.
  csv_row = staticmethod(pairs.csv_row)

  def __init__(self, *, engine: str | None = None, file_format: str | None = None, **kwargs):
    """`engine`: 'memory' or 'beam'; None chooses by config, file size and Beam options."""
    if engine not in (None, *ENGINES):
      raise JaxlensError(f'engine {engine!r}: expected one of {", ".join(ENGINES)}')
    super().__init__(file_format=file_format or DEFAULT_FILE_FORMAT, **kwargs)
    self._engine = engine
    self._use_beam = False

  def _interactions_file(self, dl_manager) -> str | None:
    """The file to build from; None when it cannot be found without downloading."""
    raise NotImplementedError

  def _read_histories(self, path: str) -> list[pairs.UserHistory]:
    return pairs.read_pairs(path)

  def _metadata(self, path: str) -> dict:
    """Metadata known before the build, saved before `protocol`: `timestamps` at least."""
    return {'timestamps': records.timestamp_kind(path)}

  def _example_writer(self) -> DeterministicExampleWriter:
    return DeterministicExampleWriter(file_format=self.info.file_format)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=records.features(),
        metadata=PipelineMetadata(),
        disable_shuffling=True,
        homepage=self.HOMEPAGE,
    )

  def download_and_prepare(self, *, download_config=None, **kwargs):
    self._use_beam = self._chooses_beam(download_config or tfds.download.DownloadConfig())
    beam_path = beam_module(_BEAM_PATH) if self._use_beam else None  # before TFDS starts
    try:
      super().download_and_prepare(download_config=download_config, **kwargs)
    except Exception as e:  # pylint: disable=broad-except
      message = beam_path and beam_path.user_error(e)
      if not message:
        raise
      raise JaxlensError(message) from None

  def _chooses_beam(self, download_config: tfds.download.DownloadConfig) -> bool:
    if self._engine is not None:
      return self._engine == 'beam'
    if (self.builder_config.beam or download_config.beam_options is not None or
        download_config.beam_runner is not None):
      return True
    path = self._local_file(download_config)
    return bool(path) and epath.Path(path).stat().length >= BEAM_FROM_BYTES

  def _local_file(self, download_config: tfds.download.DownloadConfig) -> str | None:
    """The interactions file when it is known before TFDS starts (to choose the engine)."""
    raise NotImplementedError

  @property
  def _split_generators(self):
    """TFDS hands its Beam pipeline to a `_split_generators` that takes one (both splits then
    share one reading of the file), and starts no Beam for one that does not."""
    return self._beam_splits if self._use_beam else self._memory_splits

  def _memory_splits(self, dl_manager: tfds.download.DownloadManager):
    path, config = self._interactions_file(dl_manager), self.builder_config
    histories = [records.with_positions(h) for h in self._read_histories(path)]
    kept = protocol.kept_histories(histories, config.max_seq_len, config.min_seq_len)
    data = protocol.padded(kept, config.max_seq_len)
    self.info.metadata.update(self._metadata(path))
    self.info.metadata['protocol'] = protocol.ProtocolSummary.of(
        data, config.min_seq_len).to_json()
    vocabulary = data.original_item_ids[1:]
    return {RAW_SPLIT: self._generate_examples(map(records.raw_record, histories)),
            PROTOCOL_SPLIT: self._generate_examples(
                records.protocol_record(h, vocabulary) for h in kept)}

  def _beam_splits(self, dl_manager: tfds.download.DownloadManager, pipeline):
    path, config = self._interactions_file(dl_manager), self.builder_config
    summary = os.fspath(epath.Path(dl_manager.download_dir) /
                        f'{self.name}-protocol-{uuid.uuid4().hex}.json')
    raw, rows = beam_module(_BEAM_PATH).build(pipeline, path, config.max_seq_len,
                                              config.min_seq_len, summary, self.csv_row)
    self.info.metadata.update(self._metadata(path))
    self.info.metadata.set_from_file('protocol', summary)
    return {RAW_SPLIT: raw, PROTOCOL_SPLIT: rows}

  def _generate_examples(self, examples):
    """In memory: the records in file order."""
    yield from enumerate(examples)
