"""The Beam path of the interactions builders (`microlens`, `custom`): the in-memory path's
datasets from interaction files of any size, on any Beam runner (DirectRunner here, Dataflow at
scale).

The stages, each a Beam transform that the runner spreads over its workers:
1. Lines are read with their byte offsets, in byte ranges split among workers (`OffsetLines`),
   and parsed by the line functions of `jaxlens.data.pairs` (a custom dataset's file by
   `jaxlens.builders.event_file.row`). An error names the file and line;
   the line number is counted then, and only then.
2. Histories: csv rows are grouped by user and ordered by (timestamp, offset), so ties in time
   keep file order, as `pairs.read_pairs` orders them. A tsv line is one user's history; a
   grouping of the (user, offset) pairs alone finds a user on two lines.
3. Every user is keyed by the offset of their first line. TFDS's writer sorts the records of a
   dataset without shuffling by key, so both splits come out in file order, like the in-memory
   path's.
4. The protocol: each user's kept part (`protocol.kept_part`); each kept item's train and total
   occurrences, summed per item; the sorted list of those items is the vocabulary (1.1M ids for
   the full dataset), a side input of the renumbering.
5. The protocol summary (`ProtocolSummary` as JSON) is one file, which the builder puts into the
   metadata after the run (`pipeline_metadata`).
"""

from __future__ import annotations

import json
import re

import apache_beam as beam
from apache_beam.io import filebasedsource
from apache_beam.io.filesystems import FileSystems
import numpy as np

from jaxlens.data import pairs
from jaxlens.data import protocol
from jaxlens.builders import interaction_records as records
from jaxlens.errors import JaxlensError


class OffsetLines(filebasedsource.FileBasedSource):
  """(byte offset, line) of a text file, read in byte ranges that workers share out."""

  def read_records(self, file_name, offset_range_tracker):
    start = offset_range_tracker.start_position()
    with self.open_file(file_name) as f:
      position = start
      if start > 0:  # the line running into this range belongs to the range before
        f.seek(start - 1)
        position += len(f.readline()) - 1
      while offset_range_tracker.try_claim(position):
        line = f.readline()
        if not line:
          return
        yield position, line
        position += len(line)


def _line_number(path: str, offset: int) -> int:
  """1 + the line breaks before `offset`: read again for an error message only."""
  number, done = 1, 0
  with FileSystems.open(path) as f:
    while done < offset:
      chunk = f.read(min(1 << 24, offset - done))
      if not chunk:
        break
      number += chunk.count(b'\n')
      done += len(chunk)
  return number


def _parsed(parse, path: str, offset: int, raw: bytes):
  try:
    return parse(pairs.decode_line(raw))
  except pairs.LineError as e:
    raise JaxlensError(f'{path}:{_line_number(path, offset)}: {e}') from None


def _csv_events(offset_line, path: str, row):
  """(user, (timestamp, offset, item)) of a csv row, as `row` parses it; the line at offset 0 is
  the header."""
  offset, raw = offset_line
  if offset == 0:
    if not _parsed(pairs.is_csv_header, path, offset, raw):
      raise pairs.missing_header(path)
    return
  parsed = _parsed(row, path, offset, raw)
  if parsed is not None:
    user, item, stamp = parsed
    yield user, (stamp, offset, item)


def _csv_history(user_events):
  user, events = user_events
  events = list(events)
  return min(offset for _, offset, _ in events), pairs.in_time_order(user, events)


def _tsv_history(offset_line, path: str):
  offset, raw = offset_line
  parsed = _parsed(pairs.tsv_line, path, offset, raw)
  if parsed is not None:
    yield offset, records.with_positions(pairs.UserHistory(*parsed))


def _one_line_per_user(user_offsets, path: str) -> None:
  user, offsets = user_offsets
  first, *again = sorted(offsets)
  if again:
    raise JaxlensError(f'{path}:{_line_number(path, again[0])}: '
                       f'{pairs.repeated_user(user, _line_number(path, first))}')


def _histories(pipeline, path: str, row):
  """(offset of the user's first line, history with timestamps or positions) per user."""
  lines = pipeline | 'ReadLines' >> beam.io.Read(OffsetLines(path))
  if pairs.has_timestamps(path):
    return (lines | 'ParseCsv' >> beam.FlatMap(_csv_events, path, row)
            | 'GroupByUser' >> beam.GroupByKey()
            | 'OrderInTime' >> beam.Map(_csv_history))
  histories = lines | 'ParseTsv' >> beam.FlatMap(_tsv_history, path)
  _ = (histories | 'UserLines' >> beam.MapTuple(lambda offset, h: (h.user, offset))
       | 'GroupUserLines' >> beam.GroupByKey()
       | 'OneLinePerUser' >> beam.Map(_one_line_per_user, path))
  return histories


def _kept(keyed_history, max_seq_len: int, min_seq_len: int):
  key, history = keyed_history
  part = protocol.kept_part(history, max_seq_len, min_seq_len)
  if part is not None:
    yield key, part


def _item_occurrences(keyed_kept):
  """(item, (train occurrences, all occurrences)) for each distinct item of a kept part."""
  kept = keyed_kept[1]
  items, totals = np.unique(kept.items, return_counts=True)
  trained = np.bincount(np.searchsorted(items, protocol.train_part(kept.items)),
                        minlength=len(items))
  return zip(items.tolist(), zip(trained.tolist(), totals.tolist()))


def _sum_pairs(values):
  trained, total = 0, 0
  for value in values:
    trained, total = trained + value[0], total + value[1]
  return trained, total


def _vocabulary(item_totals, min_seq_len: int) -> np.ndarray:
  if not item_totals:
    raise protocol.no_user_kept(min_seq_len)
  return np.sort(np.asarray([item for item, _ in item_totals], np.int64))


def _summary_json(item_totals, num_users: int, max_seq_len: int, min_seq_len: int) -> str:
  vocabulary = _vocabulary(item_totals, min_seq_len)
  by_item = dict(item_totals)
  trained, totals = np.asarray([by_item[i] for i in vocabulary.tolist()], np.int64).T
  summary = protocol.ProtocolSummary(
      max_seq_len, min_seq_len, num_users, int(totals.sum()),
      original_item_ids=np.concatenate([[0], vocabulary]),
      train_item_counts=np.concatenate([[0], trained]))
  return json.dumps(summary.to_json())


def _raw_record(keyed_history):
  key, history = keyed_history
  return key, records.raw_record(history)


def _protocol_record(keyed_kept, vocabulary):
  key, kept = keyed_kept
  return key, records.protocol_record(kept, vocabulary)


def build(pipeline, pairs_path: str, max_seq_len: int, min_seq_len: int, summary_path: str,
          row=pairs.csv_row):
  """(raw, protocol) PCollections of (key, record), and the summary JSON at `summary_path`;
  `row` parses a line of a `.csv` file (`pairs.csv_row` for MicroLens's)."""
  protocol.check_parameters(max_seq_len, min_seq_len)
  histories = _histories(pipeline, pairs_path, row)
  kept = histories | 'Protocol' >> beam.FlatMap(_kept, max_seq_len, min_seq_len)
  item_totals = (kept | 'ItemOccurrences' >> beam.FlatMap(_item_occurrences)
                 | 'SumPerItem' >> beam.CombinePerKey(_sum_pairs)
                 | 'AllItems' >> beam.combiners.ToList())
  vocabulary = item_totals | 'Vocabulary' >> beam.Map(_vocabulary, min_seq_len)
  num_users = kept | 'CountUsers' >> beam.combiners.Count.Globally()
  _ = (item_totals
       | 'Summary' >> beam.Map(_summary_json, beam.pvalue.AsSingleton(num_users), max_seq_len,
                               min_seq_len)
       | 'WriteSummary' >> beam.io.WriteToText(summary_path, num_shards=1,
                                                shard_name_template=''))
  raw = histories | 'RawRecords' >> beam.Map(_raw_record)
  rows = kept | 'ProtocolRecords' >> beam.Map(
      _protocol_record, vocabulary=beam.pvalue.AsSingleton(vocabulary))
  return raw, rows


_USER_ERROR = re.compile(r'JaxlensError: (.*?)(?: \[while running .*\])?$', re.MULTILINE)


def user_error(error: BaseException) -> str | None:
  """The message of a JaxlensError that failed a pipeline: the DirectRunner appends the step to
  it, and errors from worker processes arrive as traceback text."""
  text = f'JaxlensError: {error}' if isinstance(error, JaxlensError) else str(error)
  match = _USER_ERROR.search(text)
  return match.group(1) if match else None
