"""The Beam path of the `microlens` builder writes the bytes the in-memory path writes, with one
worker or two: records, protocol split and metadata (the build venv, requirements-build.txt)."""

import pytest

beam = pytest.importorskip(
    'apache_beam', reason='Apache Beam lives in the build venv: pip install -r '
    'requirements-build.txt (a separate venv) to run these tests')

# pylint: disable=g-import-not-at-top,wrong-import-position
from apache_beam.io import source_test_utils
from apache_beam.options.pipeline_options import PipelineOptions
import tensorflow_datasets as tfds

from jaxlens.data.build import beam_interactions
from jaxlens.errors import JaxlensError
from tests import interaction_files
from tfds_builders.microlens import microlens_dataset_builder


def build(manual_dir, data_dir, engine: str, workers: int = 1) -> dict[str, bytes]:
  """Every file of the dataset built by `engine` (Beam: worker processes of the DirectRunner)."""
  options = PipelineOptions([f'--direct_num_workers={workers}',
                             '--direct_running_mode=multi_processing'])
  builder = microlens_dataset_builder.Builder(config='50k', data_dir=str(data_dir),
                                              engine=engine)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual_dir), beam_options=options if engine == 'beam' else None))
  return interaction_files.dataset_files(data_dir)


def test_edge_cases_give_the_same_bytes_in_memory_and_with_one_or_two_workers(tmp_path):
  manual = tmp_path / 'manual'
  interaction_files.write_edge_cases(manual)
  in_memory = build(manual, tmp_path / 'memory', 'memory')
  assert {'metadata.json', 'microlens-protocol.array_record-00000-of-00001'} <= in_memory.keys()
  assert build(manual, tmp_path / 'one', 'beam', workers=1) == in_memory
  assert build(manual, tmp_path / 'two', 'beam', workers=2) == in_memory


@pytest.mark.parametrize('suffix', ['.csv', '.tsv'])
def test_generated_files_give_the_same_bytes(tmp_path, suffix):
  manual = tmp_path / 'manual'
  interaction_files.write_generated(manual, suffix)
  assert build(manual, tmp_path / 'beam', 'beam', workers=2) == build(
      manual, tmp_path / 'memory', 'memory')


def test_real_50k_gives_the_same_bytes(microlens_data_dir, tmp_path):
  manual = f'{microlens_data_dir}/microlens-50k'
  assert build(manual, tmp_path / 'beam', 'beam', workers=2) == build(
      manual, tmp_path / 'memory', 'memory')


def test_byte_ranges_split_anywhere_read_every_line_once(tmp_path):
  path = tmp_path / 'lines.tsv'
  path.write_bytes(b'u1\t1 2\r\n\r\nu2\t3\nu3\t4 5 6\n\nu4\t7 8')  # no final line break
  source = beam_interactions.OffsetLines(str(path))
  lines = source_test_utils.read_from_source(source)
  assert [offset for offset, _ in lines] == [0, 8, 10, 15, 24, 25]
  source_test_utils.assert_sources_equal_reference_source(
      (source, None, None),
      [(s.source, s.start_position, s.stop_position) for s in source.split(3)])
  source_test_utils.assert_split_at_fraction_exhaustive(source)


@pytest.mark.parametrize('text, message', [
    ('u1\t1 2 3 4 5\nu2\t4 5 6 7 8\n\nu1\t6 7 8 9 1\n',
     r"_pairs\.tsv:4: user 'u1' again \(first at line 1\)"),
    ('u1\t1 2 3 4 5\nu2\t4 x 6 7 8\n', r"_pairs\.tsv:2: item 'x' is not an integer id"),
])
def test_errors_name_the_file_and_line(tmp_path, text, message):
  with open(interaction_files.pairs_path(tmp_path / 'manual', '.tsv'), 'w',
            encoding='utf-8') as f:
    f.write(text)
  with pytest.raises(JaxlensError, match=f'MicroLens-50k{message}'):
    build(tmp_path / 'manual', tmp_path / 'tfds', 'beam', workers=2)
