"""The Beam path of the `microlens` and `custom` builders writes the bytes the in-memory path
writes: records, protocol split and metadata (the build venv, requirements-build.txt). Beam's
files do not depend on the number of workers: one worker process writes what two write
(`test_splits_of_several_shards_hold_the_same_records`). The other builds run Beam's in-process
runner, which still pickles every transform to hand it to its worker: a worker process costs
seconds of start-up per build, and Beam 2.77's worker threads (`direct_running_mode=
multi_threading`) once handed a step `None` for an element of a 10,000-user build."""

import pytest

beam = pytest.importorskip(
    'apache_beam', reason='Apache Beam lives in the build venv: pip install -r '
    'requirements-build.txt (a separate venv) to run these tests')

# pylint: disable=g-import-not-at-top,wrong-import-position
from apache_beam.io import source_test_utils
from apache_beam.options.pipeline_options import PipelineOptions
import numpy as np
import tensorflow_datasets as tfds

from jaxlens.data import tfds_source
from jaxlens.builders import beam_interactions
from jaxlens.errors import JaxlensError
from jaxlens.builders import custom_build
from jaxlens.builders import interaction_table
from jaxlens.builders import microlens
from jaxlens.data import pairs
from tests import custom_tables
from tests import interaction_files


REAL_USERS = 10000


def build(manual_dir, data_dir, engine: str, workers: int = 1, num_shards: int | None = None,
          running_mode: str = 'in_memory') -> dict[str, bytes]:
  """Every file of the dataset built by `engine` (Beam: `workers` of the DirectRunner)."""
  options = PipelineOptions([f'--direct_num_workers={workers}',
                             f'--direct_running_mode={running_mode}'])
  builder = microlens.MicroLens(config='50k', data_dir=str(data_dir),
                                              engine=engine)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual_dir), beam_options=options if engine == 'beam' else None,
      num_shards=num_shards))
  return interaction_files.dataset_files(data_dir)


def test_edge_cases_give_the_same_bytes_in_memory_and_on_beam(tmp_path):
  manual = tmp_path / 'manual'
  interaction_files.write_edge_cases(manual)
  in_memory = build(manual, tmp_path / 'memory', 'memory')
  assert {'metadata.json', 'microlens-protocol.array_record-00000-of-00001'} <= in_memory.keys()
  assert build(manual, tmp_path / 'beam', 'beam') == in_memory


@pytest.mark.parametrize('suffix', ['.csv', '.tsv'])
def test_generated_files_give_the_same_bytes(tmp_path, suffix):
  manual = tmp_path / 'manual'
  interaction_files.write_generated(manual, suffix)
  assert build(manual, tmp_path / 'beam', 'beam') == build(manual, tmp_path / 'memory', 'memory')


def test_splits_of_several_shards_hold_the_same_records(tmp_path):
  """TFDS's writers cut shards differently (Beam by key range, in memory by count): the files
  may differ, the records and their order do not; Beam's files do not depend on the workers."""
  manual = tmp_path / 'manual'
  interaction_files.write_generated(manual, '.csv')
  build(manual, tmp_path / 'memory', 'memory', num_shards=3)
  two_workers = build(manual, tmp_path / 'two', 'beam', workers=2, num_shards=3,
                      running_mode='multi_processing')
  assert build(manual, tmp_path / 'one', 'beam', workers=1, num_shards=3,
               running_mode='multi_processing') == two_workers
  assert len([name for name in two_workers if 'protocol.array_record' in name]) == 3
  for split in (tfds_source.RAW_SPLIT, tfds_source.PROTOCOL_SPLIT):
    records = [tfds.builder_from_directory(tfds_source.built_dir('microlens/50k', str(d)))
               .as_data_source(split) for d in (tmp_path / 'memory', tmp_path / 'two')]
    assert len(records[0]) == len(records[1])
    for got, want in zip(*(r.__getitems__(range(len(r))) for r in records)):
      assert got.keys() == want.keys() and all(
          np.array_equal(got[key], want[key]) for key in got)


def test_the_real_50k_file_gives_the_same_bytes(microlens_data_dir, tmp_path):
  """Its first REAL_USERS lines, as they are (the whole file's 50,000 took 3.2 times as long to
  build both ways)."""
  manual = tmp_path / 'manual'
  interaction_files.write_head(
      f'{microlens_data_dir}/microlens-50k/MicroLens-50k_pairs.tsv', manual, REAL_USERS)
  assert build(manual, tmp_path / 'beam', 'beam') == build(manual, tmp_path / 'memory', 'memory')


def build_custom(table: str, data_dir, engine: str) -> dict[str, bytes]:
  """Every file of `custom/t` built from `table` by `engine` but the build report."""
  spec = custom_build.CustomBuild('t', interaction_table.TableSpec(table, time_unit='ms'))
  options = 'direct_num_workers=1,direct_running_mode=in_memory' if engine == 'beam' else None
  custom_build.build_custom(spec, str(data_dir), engine=engine, beam_pipeline_options=options)
  return custom_tables.dataset_files(data_dir, 't')


def test_custom_tables_give_the_same_bytes_in_memory_and_on_beam(tmp_path):
  edge_cases = custom_tables.write(tmp_path / 'edge', custom_tables.edge_case_rows(), 'csv')
  in_memory = build_custom(edge_cases, tmp_path / 'memory', 'memory')
  assert 'custom-protocol.array_record-00000-of-00001' in in_memory
  assert build_custom(edge_cases, tmp_path / 'beam', 'beam') == in_memory
  histories = pairs.read_pairs(interaction_files.write_generated(tmp_path / 'generated', '.csv'))
  rows = [(f'user "{h.user}", the {n}th', f'video-{item}', int(stamp))
          for n, h in enumerate(histories) for item, stamp in zip(h.items, h.timestamps)]
  generated = custom_tables.write(tmp_path / 'strings', rows, 'parquet')
  assert build_custom(generated, tmp_path / 'beam-strings', 'beam') == build_custom(
      generated, tmp_path / 'memory-strings', 'memory')


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
    build(tmp_path / 'manual', tmp_path / 'tfds', 'beam')
