"""Reading a table of one's own: CSV, TSV, Parquet or RecBole atomic files, in batches.

A table is read column by column with pyarrow, a batch of rows at a time, so a file larger than
memory streams. Paths go through `etils.epath` (local, `gs://`); a name ending in `.gz` is
decompressed on the fly. Formats:
- `csv`, `tsv`: a header line names the columns; quoted fields as in RFC 4180; blank lines are
  skipped. Every column is read as text, and the caller decides what its values are.
- `atomic`: RecBole's atomic files (`.inter`, `.item`): tab-separated, a header of `name:type`
  (`user_id:token`, `timestamp:float`), no quoting. Columns are named without their type.
- `parquet`: columns keep their types (integers, strings, floats, timestamps).

Errors are one line naming the file and, for text files, the line (`file:LINE`); a data row's
line is found by reading the file again up to it, on the error path only.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
from typing import Iterator, Sequence

import pyarrow as pa
from pyarrow import csv as pa_csv
from pyarrow import parquet as pq

from jaxlens import paths
from jaxlens.errors import JaxlensError

FORMATS = ('csv', 'tsv', 'parquet', 'atomic')
_BY_EXTENSION = {'.csv': 'csv', '.tsv': 'tsv', '.txt': 'tsv', '.parquet': 'parquet',
                 '.pq': 'parquet', '.inter': 'atomic', '.item': 'atomic'}
BATCH_BYTES = 16 << 20  # text read per batch
BATCH_ROWS = 1 << 20  # Parquet rows per batch


def format_of(path: str, given: str | None = None) -> str:
  """The format given, else the one the file name says (`.csv.gz` is csv)."""
  if given:
    if given not in FORMATS:
      raise JaxlensError(f'--format {given!r}: choose one of {", ".join(FORMATS)}')
    return given
  name = path[:-3] if path.endswith('.gz') else path
  found = _BY_EXTENSION.get(os.path.splitext(name)[1].lower())
  if found is None:
    raise JaxlensError(f'{path}: cannot tell the format from the name; pass --format '
                       f'({", ".join(FORMATS)})')
  return found


@dataclasses.dataclass(frozen=True)
class Table:
  """An opened table: its path, format and column names (atomic: without their `:type`)."""

  path: str
  format: str
  columns: tuple[str, ...]
  header: tuple[str, ...]  # the columns as the file spells them

  @property
  def compressed(self) -> bool:
    return self.path.endswith('.gz')

  def where(self, row: int) -> str:
    """`file:LINE` of data row `row` (0-based) of a text file, `file, row N` of a Parquet one."""
    if self.format == 'parquet':
      return f'{self.path}, row {row + 1}'
    return f'{self.path}:{_line_of(self, row + 1)}'

  def require(self, column: str, flag: str) -> str:
    """The file's spelling of `column`; a missing one is an error listing those present."""
    if column not in self.columns:
      raise JaxlensError(f'{self.path}: no column {column!r} (its columns: '
                         f'{", ".join(self.columns)}); name the column with {flag}')
    return self.header[self.columns.index(column)]


@contextlib.contextmanager
def _binary(table_path: str, compressed: bool):
  """The file's bytes as a pyarrow input stream, decompressed when the name ends in `.gz`."""
  with paths.resolve(table_path).open('rb') as f:
    stream = pa.PythonFile(f, mode='r')
    yield pa.CompressedInputStream(stream, 'gzip') if compressed else stream


def _text_options(fmt: str) -> dict:
  """pyarrow's parse options of a text format: atomic files know no quoting."""
  atomic = fmt == 'atomic'
  return dict(delimiter=',' if fmt == 'csv' else '\t',
              quote_char=False if atomic else '"', double_quote=not atomic)


def open_table(path: str, fmt: str) -> Table:
  """Checks that the file exists and has a header (text) or a schema (Parquet)."""
  file = paths.resolve(path)
  if not file.exists():
    raise JaxlensError(f'{path}: no such file')
  if file.is_dir():
    raise JaxlensError(f'{path}: a folder, not a table')
  compressed = path.endswith('.gz')
  try:
    if fmt == 'parquet':
      with file.open('rb') as f:
        header = tuple(pq.ParquetFile(f).schema_arrow.names)
      return Table(path, fmt, header, header)
    with _binary(path, compressed) as stream:
      first = io.TextIOWrapper(_Readable(stream), encoding='utf-8', newline='').readline()
  except (pa.ArrowInvalid, OSError, UnicodeDecodeError, EOFError) as e:
    raise JaxlensError(f'{path}: not a readable {fmt} file ({_first_line(e)})') from None
  if not first.strip():
    raise JaxlensError(f'{path}: the file is empty' if not first else
                       f'{path}:1: expected a header line naming the columns')
  options = _text_options(fmt)
  header = tuple(next(csv.reader([first.rstrip('\r\n')], delimiter=options['delimiter'],
                                 quoting=csv.QUOTE_NONE if fmt == 'atomic' else csv.QUOTE_MINIMAL)))
  columns = tuple(name.split(':', 1)[0] if fmt == 'atomic' else name for name in header)
  if len(set(columns)) != len(columns):
    raise JaxlensError(f'{path}:1: a column name appears twice ({", ".join(columns)})')
  return Table(path, fmt, columns, header)


class _Readable(io.RawIOBase):
  """A pyarrow input stream as a Python binary stream (for reading the header line)."""

  def __init__(self, stream):
    super().__init__()
    self._stream = stream

  def readable(self) -> bool:
    return True

  def readinto(self, buffer) -> int:
    data = self._stream.read(len(buffer))
    buffer[:len(data)] = data
    return len(data)


def _first_line(error: Exception) -> str:
  return str(error).strip().split('\n')[0]


def batches(table: Table, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, pa.Array]]]:
  """(first row index, {column: values}) for the named columns (as `table.columns` names them),
  a batch at a time; text columns come as strings. A row of the wrong width is an error."""
  if table.format == 'parquet':
    yield from _parquet_batches(table, columns)
  else:
    yield from _text_batches(table, columns)


def _parquet_batches(table: Table, columns: Sequence[str]):
  start = 0
  with paths.resolve(table.path).open('rb') as f:
    for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=list(columns)):
      yield start, {name: batch.column(name) for name in columns}
      start += batch.num_rows


def _text_batches(table: Table, columns: Sequence[str]):
  bad = []

  def invalid(row) -> str:
    bad.append(row)
    return 'skip'

  spelled = [table.header[table.columns.index(name)] for name in columns]
  read = pa_csv.ReadOptions(use_threads=False, block_size=BATCH_BYTES)
  parse = pa_csv.ParseOptions(invalid_row_handler=invalid, **_text_options(table.format))
  convert = pa_csv.ConvertOptions(column_types={name: pa.string() for name in spelled},
                                  include_columns=spelled, strings_can_be_null=False)
  start = 0
  try:
    with _binary(table.path, table.compressed) as stream:
      for batch in pa_csv.open_csv(stream, read_options=read, parse_options=parse,
                                   convert_options=convert):
        if bad:
          break
        yield start, {name: batch.column(spelled_name)
                      for name, spelled_name in zip(columns, spelled)}
        start += batch.num_rows
  except (pa.ArrowInvalid, UnicodeDecodeError) as e:
    raise JaxlensError(f'{table.path}: cannot be read as {table.format} ({_first_line(e)})'
                       ) from None
  if bad:
    row = bad[0]
    where = (f'{table.path}:{_line_of(table, row.number - 1)}' if row.number else table.path)
    raise JaxlensError(f'{where}: expected {row.expected_columns} fields '
                       f'({", ".join(table.columns)}), got {row.actual_columns}: '
                       f'{row.text[:80]!r}')


def _line_of(table: Table, record: int) -> int:
  """The line on which non-blank record `record` ends (the header is record 0), found by
  reading the file again."""
  with _binary(table.path, table.compressed) as stream:
    text = io.TextIOWrapper(_Readable(stream), encoding='utf-8', errors='replace', newline='')
    options = _text_options(table.format)
    reader = csv.reader(text, delimiter=options['delimiter'],
                        quoting=csv.QUOTE_NONE if table.format == 'atomic' else csv.QUOTE_MINIMAL)
    seen = -1
    for fields in reader:
      if fields:
        seen += 1
      if seen == record:
        return reader.line_num
  return reader.line_num
