"""The same interactions written as CSV, TSV, Parquet and RecBole atomic files, and `jaxlens
build custom` run as a user runs it, for the custom-data tests."""

import csv
import gzip
import os
import pathlib

import pyarrow as pa
from pyarrow import parquet as pq

from jaxlens.builders.__main__ import main as build_main
from jaxlens.data import tfds_source
from tests import interaction_files

COLUMNS = ('user', 'item', 'timestamp')


def edge_case_rows() -> list[tuple[str, int, int]]:
  """`interaction_files.EDGE_CASES_CSV` as rows: ties, repeats, the largest 64-bit id, a
  negative timestamp, a user below min_seq_len, a long user the protocol cuts."""
  lines = [line for line in interaction_files.EDGE_CASES_CSV.split('\r\n')[1:] if line]
  return [(user, int(item), int(stamp)) for user, item, stamp in (l.split(',') for l in lines)]


def write(folder, rows, fmt: str, columns=COLUMNS, name: str = 'interactions') -> str:
  """`rows` (tuples in `columns` order) as `<folder>/<name>.<ext>`; `csv.gz` compresses."""
  os.makedirs(folder, exist_ok=True)
  if fmt == 'parquet':
    path = os.path.join(folder, f'{name}.parquet')
    pq.write_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)}), path)
    return path
  if fmt == 'atomic':
    types = {str: 'token', int: 'token', float: 'float'}
    header = [f'{c}_id:token' if c in ('user', 'item') else f'{c}:{types[type(rows[0][i])]}'
              for i, c in enumerate(columns)]
    path = os.path.join(folder, f'{name}.inter')
    with open(path, 'w', encoding='utf-8') as f:
      f.write('\t'.join(header) + '\n')
      f.writelines('\t'.join(map(str, row)) + '\n' for row in rows)
    return path
  extension = fmt.split('.')[0]
  path = os.path.join(folder, f'{name}.{fmt}')
  opener = gzip.open if fmt.endswith('.gz') else open
  with opener(path, 'wt', encoding='utf-8', newline='') as f:
    writer = csv.writer(f, delimiter=',' if extension == 'csv' else '\t')
    writer.writerow(columns)
    writer.writerows(rows)
  return path


def build(capsys, *flags: str) -> tuple[int, str, str]:
  """`jaxlens build custom FLAGS`: (exit status, stdout, stderr)."""
  capsys.readouterr()
  status = build_main(['custom', '--num_workers=1', *flags])
  out, err = capsys.readouterr()
  return status, out, err


def dataset_files(data_dir, name: str, skip=('build_report.json',)) -> dict[str, bytes]:
  """Every file of the built `custom/<name>` but the build report, by name."""
  folder = tfds_source.built_dir(f'custom/{name}', str(data_dir))
  return {p.name: p.read_bytes() for p in sorted(pathlib.Path(folder).iterdir())
          if p.name not in skip}


def leftovers(data_dir) -> list[str]:
  """What a failed build left in the data dir's `custom/` and `custom_frames/` folders."""
  root = pathlib.Path(data_dir)
  return sorted(os.fspath(p.relative_to(root)) for folder in ('custom', 'custom_frames')
                if (root / folder).exists() for p in (root / folder).iterdir())
