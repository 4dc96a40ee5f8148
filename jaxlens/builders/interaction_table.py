"""A table of one's own interactions -> the custom builder's interactions file (`event_file`).

Two passes over the table, a batch at a time, so memory holds the distinct item ids only:
1. every value is checked (an error names the file and line) and the distinct items gathered;
   the kind of each id column and the unit of the time column are settled over the whole file;
2. the rows are written in table order, items as dense ids.

Ids. A column whose values are all integers (an integer Parquet column, or text that is all
`-?[0-9]+`) holds integer ids, read as numbers (`007` is 7); any other holds string ids, taken as
written less surrounding blanks. A text column mixing both is an error, unless `string_ids` reads
every id as a string. Items get dense ids 1..M: their rank among the distinct item ids in
increasing order (numbers by value, strings by code point), so the dataset does not depend on
row order and integer ids keep their order. `source_item_ids[i]` is item i's id in the table.
Users keep their id, as text.

Time. A column of numbers is epoch seconds or milliseconds (`auto`: milliseconds when some value
is 1e11 or more in magnitude, else seconds, so an epoch-ms column before March 1973 needs
`time_unit='ms'`); fractions of a millisecond are rounded. A column of dates is ISO 8601
(`2024-05-01`, `2024-05-01T10:30:00+02:00`, `...Z`; a date without a zone is UTC); Parquet
timestamp and date columns are taken as they are. Without a time column, the timestamps are the
rows' numbers in the table (0-based), so each user's interactions keep the table's order.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from pyarrow import compute as pc

from jaxlens.builders import event_file
from jaxlens.builders import tables
from jaxlens.errors import JaxlensError

TIME_UNITS = ('auto', 's', 'ms', 'iso')
DEFAULT_USER_COLUMNS = ('user_id', 'user')  # RecBole's name first, then MicroLens's
DEFAULT_ITEM_COLUMNS = ('item_id', 'item')
DEFAULT_TIME_COLUMN = 'timestamp'
MS_FROM = 1e11  # `auto`: a number this large is milliseconds (1e11 s is the year 5138)
INTEGER = r'^-?[0-9]+$'
_NUMBER = r'^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$'


@dataclasses.dataclass(frozen=True)
class TableSpec:
  """Where the interactions are and which columns hold what (None: the default names)."""

  path: str
  format: str | None = None
  user_col: str | None = None
  item_col: str | None = None
  time_col: str | None = None  # None: `timestamp` when the table has one; '': file order
  time_unit: str = 'auto'
  string_ids: bool = False


@dataclasses.dataclass(frozen=True)
class Columns:
  user: str
  item: str
  time: str | None


@dataclasses.dataclass(frozen=True)
class Converted:
  """What the conversion found: counts, the item ids and how time was read."""

  rows: int
  source_item_ids: list[Any]  # [0] None; [i] the table's id of dense item i
  item_id_kind: str  # 'integer' or 'string'
  user_id_kind: str
  time_unit: str | None  # 's', 'ms', 'iso' (dates); None: file order

  @property
  def timestamps(self) -> str:
    """The dataset metadata's `timestamps`."""
    return 'epoch_ms' if self.time_unit else 'row_numbers'


def _default(table: tables.Table, given: str | None, names: tuple[str, ...], flag: str) -> str:
  if given:
    table.require(given, flag)
    return given
  found = next((name for name in names if name in table.columns), None)
  if found is None:
    raise JaxlensError(f'{table.path}: no column {" or ".join(map(repr, names))} (its columns: '
                       f'{", ".join(table.columns)}); name the column with {flag}')
  return found


def open_spec(spec: TableSpec) -> tuple[tables.Table, Columns]:
  """Opens the table and finds its columns: the checks that come before any long work."""
  if spec.time_unit not in TIME_UNITS:
    raise JaxlensError(f'--time_unit {spec.time_unit!r}: choose one of {", ".join(TIME_UNITS)}')
  table = tables.open_table(spec.path, tables.format_of(spec.path, spec.format))
  user = _default(table, spec.user_col, DEFAULT_USER_COLUMNS, '--user_col')
  item = _default(table, spec.item_col, DEFAULT_ITEM_COLUMNS, '--item_col')
  if spec.time_col is None:
    time = DEFAULT_TIME_COLUMN if DEFAULT_TIME_COLUMN in table.columns else None
  elif spec.time_col:
    table.require(spec.time_col, '--time_col')
    time = spec.time_col
  else:
    time = None
  chosen = [column for column in (user, item, time) if column]
  if len(set(chosen)) != len(chosen):
    raise JaxlensError(f'{table.path}: the user, item and time columns must differ '
                       f'({user}, {item}, {time})')
  return table, Columns(user, item, time)


def _first(mask: pa.Array) -> int | None:
  """The index of the first true value, None if there is none."""
  index = pc.index(mask.fill_null(True), True).as_py()
  return None if index < 0 else index


def id_text(values: pa.Array, table: tables.Table, column: str, start: int) -> pa.Array:
  """A column of ids as trimmed text; a missing or blank id, or a type that cannot be an id,
  is an error naming its row."""
  if pa.types.is_integer(values.type):
    text = pc.cast(values, pa.string())
  elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
    text = pc.utf8_trim_whitespace(values)
  else:
    raise JaxlensError(f'{table.path}: column {column!r} holds {values.type} values; ids must be '
                       'integers or strings')
  blank = _first(pc.or_(pc.is_null(text), pc.equal(pc.utf8_length(text.fill_null('')), 0)))
  if blank is not None:
    raise JaxlensError(f'{table.where(start + blank)}: no {column} id')
  return text


def _int64(text: pa.Array, table: tables.Table, column: str, start: int) -> pa.Array:
  try:
    return pc.cast(text, pa.int64())
  except pa.ArrowInvalid:
    bad = next(i for i, value in enumerate(text.to_pylist()) if not -2**63 <= int(value) < 2**63)
    raise JaxlensError(f'{table.where(start + bad)}: {column} {text[bad].as_py()!r} does not fit '
                       '64 bits') from None


class IdKind:
  """Where a column's ids look like integers and where not, to settle the column's kind."""

  def __init__(self, table: tables.Table, column: str, string_ids: bool):
    self._table, self._column, self._string_ids = table, column, string_ids
    self._first: dict[bool, int | None] = {True: None, False: None}
    self._count = {True: 0, False: 0}

  def add(self, start: int, text: pa.Array) -> pa.Array:
    """Records a batch of `id_text` values; returns where they are integers."""
    integer = pc.match_substring_regex(text, INTEGER)
    integers = pc.sum(integer).as_py() or 0
    for kind, count in ((True, integers), (False, len(text) - integers)):
      if count:
        self._count[kind] += count
        if self._first[kind] is None:
          self._first[kind] = start + _first(integer if kind else pc.invert(integer))
    if integers:
      _int64(pc.filter(text, integer), self._table, self._column, start)
    return integer

  @property
  def kind(self) -> str:
    """'integer' or 'string'; a column mixing both is an error, unless strings are asked for."""
    if self._string_ids or not self._count[True]:
      return 'string'
    if self._count[False]:
      odd = min((True, False), key=lambda kind: (self._count[kind], -self._first[kind]))
      kinds = {True: 'integer', False: 'string'}
      raise JaxlensError(
          f'{self._table.where(self._first[odd])}: {"an" if odd else "a"} {kinds[odd]} '
          f'{self._column} id, while '
          f'{self._count[not odd]:,} of the {sum(self._count.values()):,} ids are '
          f'{kinds[not odd]}s (the first at {self._table.where(self._first[not odd])}); pass '
          '--string_ids to read every id as a string')
    return 'integer'


def typed_ids(text: pa.Array, kind: str) -> pa.Array:
  """`id_text` values as the column's kind: int64 for integer ids, else the text."""
  return pc.cast(text, pa.int64()) if kind == 'integer' else text


class Clock:
  """Reads a time column as epoch milliseconds, with one unit for the whole column."""

  def __init__(self, table: tables.Table, column: str, unit: str):
    self._table, self._column, self._unit = table, column, unit
    self._kind: tuple[str, int] | None = None  # ('number' | 'date', first row)
    self._largest = 0.0

  def _values(self, start: int, values: pa.Array) -> tuple[str, pa.Array]:
    """('number', numbers) or ('date', epoch ms) of one batch; bad values are errors."""
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
      kind, parsed = 'date', pc.cast(pc.cast(values, pa.timestamp('ms')), pa.int64())
    elif pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
      kind, parsed = 'number', values
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
      values = pc.utf8_trim_whitespace(values)
      blank = _first(pc.equal(pc.utf8_length(values.fill_null('')), 0))
      if blank is not None:
        raise JaxlensError(f'{self._table.where(start + blank)}: no {self._column} value')
      number = pc.match_substring_regex(values, _NUMBER)
      if 2 * (pc.sum(number).as_py() or 0) >= len(values):  # a column of numbers
        odd = _first(pc.invert(number))
        if odd is not None:
          raise JaxlensError(f'{self._table.where(start + odd)}: {self._column} '
                             f'{values[odd].as_py()!r} is not a number, as the others are')
        kind, parsed = 'number', (
            _int64(values, self._table, self._column, start)
            if pc.all(pc.match_substring_regex(values, INTEGER)).as_py()
            else pc.cast(values, pa.float64()))
      else:
        kind, parsed = 'date', self._iso(start, values)
    else:
      raise JaxlensError(f'{self._table.path}: time column {self._column!r} holds {values.type} '
                         'values; expected numbers, dates or ISO 8601 text')
    missing = _first(pc.is_null(parsed))
    if missing is None and pa.types.is_floating(parsed.type):
      missing = _first(pc.invert(pc.is_finite(parsed)))
    if missing is not None:
      raise JaxlensError(f'{self._table.where(start + missing)}: no {self._column} value')
    return kind, parsed

  def _iso(self, start: int, text: pa.Array) -> pa.Array:
    for unit in (pa.timestamp('ms', tz='UTC'), pa.timestamp('ms')):
      try:
        return pc.cast(pc.cast(text, unit), pa.int64())
      except pa.ArrowInvalid:
        pass
    stamps = []
    for row, value in enumerate(text.to_pylist()):
      try:
        when = datetime.datetime.fromisoformat(value)
      except (TypeError, ValueError):
        raise JaxlensError(f'{self._table.where(start + row)}: {self._column} {value!r} is not a '
                           'number or an ISO 8601 date') from None
      when = when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)
      stamps.append(round(when.timestamp() * 1000))
    return pa.array(stamps, pa.int64())

  def check(self, start: int, values: pa.Array) -> None:
    """Pass 1: a batch's values parse, and the column is all numbers or all dates."""
    kind, parsed = self._values(start, values)
    if self._kind is None:
      self._kind = (kind, start)
    elif self._kind[0] != kind:
      raise JaxlensError(f'{self._table.where(start)}: {self._column} holds {kind}s, while '
                         f'line/row {self._kind[1] + 1} holds {self._kind[0]}s')
    if kind == 'number' and len(parsed):
      self._largest = max(self._largest, pc.max(pc.abs(parsed)).as_py())

  @property
  def unit(self) -> str:
    """'s' or 'ms' for numbers, 'iso' for dates (ISO text or Parquet timestamps)."""
    kind = self._kind[0] if self._kind else 'number'
    if self._unit == 'auto':
      if kind == 'date':
        return 'iso'
      return 'ms' if self._largest >= MS_FROM else 's'
    if (kind == 'date') != (self._unit == 'iso'):
      raise JaxlensError(f'--time_unit {self._unit}: column {self._column!r} of '
                         f'{self._table.path} holds {kind}s')
    return self._unit

  def milliseconds(self, start: int, values: pa.Array) -> np.ndarray:
    """Pass 2: epoch milliseconds, int64."""
    kind, parsed = self._values(start, values)
    if kind == 'date':
      return parsed.to_numpy(zero_copy_only=False).astype(np.int64)
    scale = 1000.0 if self.unit == 's' else 1.0
    numbers = parsed.to_numpy(zero_copy_only=False)
    if np.issubdtype(numbers.dtype, np.integer):
      if np.abs(numbers).max(initial=0) >= 2**63 / scale:
        raise JaxlensError(f'{self._table.path}: {self._column} values do not fit 64-bit '
                           'milliseconds')
      return numbers.astype(np.int64) * int(scale)
    return np.round(numbers * scale).astype(np.int64)


def convert(table: tables.Table, columns: Columns, spec: TableSpec, out_path: str) -> Converted:
  """Checks the table and writes it to `out_path` as an `event_file`."""
  names = [columns.user, columns.item] + ([columns.time] if columns.time else [])
  users = IdKind(table, columns.user, spec.string_ids)
  items = IdKind(table, columns.item, spec.string_ids)
  clock = Clock(table, columns.time, spec.time_unit) if columns.time else None
  distinct, rows = [], 0
  for start, batch in tables.batches(table, names):
    user_text = id_text(batch[columns.user], table, columns.user, start)
    broken = _first(pc.match_substring_regex(user_text, '[\r\n]'))
    if broken is not None:
      raise JaxlensError(f'{table.where(start + broken)}: a user id holds a line break')
    users.add(start, user_text)
    item_text = id_text(batch[columns.item], table, columns.item, start)
    items.add(start, item_text)
    distinct.append(pc.unique(item_text))
    if clock:
      clock.check(start, batch[columns.time])
    rows += len(user_text)
  if not rows:
    raise JaxlensError(f'{table.path}: the table holds no interactions')
  item_kind, user_kind = items.kind, users.kind
  time_unit = clock.unit if clock else None
  vocabulary = pc.unique(typed_ids(pa.concat_arrays(distinct), item_kind))
  vocabulary = vocabulary.take(pc.array_sort_indices(vocabulary))
  writer = event_file.Writer(out_path)
  try:
    for start, batch in tables.batches(table, names):
      user_text = id_text(batch[columns.user], table, columns.user, start)
      if user_kind == 'integer':
        user_text = pc.cast(pc.cast(user_text, pa.int64()), pa.string())
      item_ids = typed_ids(id_text(batch[columns.item], table, columns.item, start), item_kind)
      dense = pc.index_in(item_ids, value_set=vocabulary).to_numpy().astype(np.int64) + 1
      stamps = (clock.milliseconds(start, batch[columns.time]) if clock
                else np.arange(start, start + len(dense), dtype=np.int64))
      writer.write(user_text, dense, stamps)
  finally:
    writer.close()
  return Converted(rows, [None] + vocabulary.to_pylist(), item_kind, user_kind, time_unit)
