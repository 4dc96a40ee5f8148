"""jaxlens build: everything training needs for one dataset, without TensorFlow.

  jaxlens build microlens --config=toy [--data_dir D] [--manual_dir M]
      [--num_workers N] [--engine memory|beam] [--beam_pipeline_options K=V,...]

writes `microlens/<release>` (interactions) and `microlens_frames/<config>` (items; not for
`full`) to the data dir, in the array_record format training reads. An interrupted build resumes.
Interactions are built in memory, or with Apache Beam (the build venv, requirements-build.txt)
for `1m`, `full`, large files and whenever Beam options are given.

  jaxlens build custom --name NAME --interactions FILE [--format csv|tsv|parquet|atomic]
      [--user_col C --item_col C --time_col C --time_unit auto|s|ms|iso --string_ids]
      [--items FILE --title_col C --category_cols C,C --video_col C --cover_col C]
      [--videos DIR] [--covers DIR] [--data_dir D] [--overwrite] ...

writes `custom/NAME` (interactions) and, when content is given, `custom_frames/NAME` (items)
from a table of one's own; train on it with --config.data.name=custom/NAME. See the "Your own
data" page of the documentation (docs/custom-data.md).
"""

from __future__ import annotations

import argparse
import sys

from jaxlens import cli

DATASETS = ('microlens', 'custom')


def _shared_flags(parser: cli.ArgumentParser) -> None:
  parser.add_argument('--data_dir', help='default: ~/tensorflow_datasets or $TFDS_DATA_DIR')
  parser.add_argument('--num_workers', type=int, help='frame extraction processes (default: cores)')
  parser.add_argument('--engine', choices=['memory', 'beam'],
                      help='how to build the interactions (default: by config and file size)')
  parser.add_argument('--beam_pipeline_options',
                      help='Beam options for the interactions, as for `tfds build`: '
                           'runner=DataflowRunner,project=P,region=R,temp_location=gs://...')


def _microlens(argv: list[str]) -> int:
  from jaxlens.builders.subset import build_subset  # pylint: disable=g-import-not-at-top
  parser = cli.ArgumentParser('jaxlens build microlens', __doc__)
  parser.add_argument('--config', required=True,
                      help='toy, 50k, 100k, 1m, full; 50k-crop, ... for aspect-preserving frames')
  parser.add_argument('--manual_dir', help='folder holding the official files (else download)')
  _shared_flags(parser)
  args = parser.parse_args(argv)
  return cli.exit_status(lambda: build_subset(
      args.config, args.data_dir, args.manual_dir, args.num_workers, args.engine,
      args.beam_pipeline_options))


def _custom(argv: list[str]) -> int:
  from jaxlens.builders import custom_build  # pylint: disable=g-import-not-at-top
  from jaxlens.builders import custom_items  # pylint: disable=g-import-not-at-top
  from jaxlens.builders import frames  # pylint: disable=g-import-not-at-top
  from jaxlens.builders import interaction_table  # pylint: disable=g-import-not-at-top
  from jaxlens.builders import tables  # pylint: disable=g-import-not-at-top
  parser = cli.ArgumentParser('jaxlens build custom', __doc__)
  parser.add_argument('--name', required=True, help='the dataset: custom/NAME')
  table = parser.add_argument_group('interactions')
  table.add_argument('--interactions', required=True,
                     help='the table: CSV, TSV, Parquet or a RecBole .inter file (.gz too; a '
                          'local path or gs://...)')
  table.add_argument('--format', choices=tables.FORMATS, help='default: by the file name')
  table.add_argument('--user_col', help='default: user_id, else user')
  table.add_argument('--item_col', help='default: item_id, else item')
  table.add_argument('--time_col',
                     help="default: timestamp when there is one; '' for the rows' order")
  table.add_argument('--time_unit', default='auto', choices=interaction_table.TIME_UNITS,
                     help='numbers: s or ms (auto: ms from 1e11 on); iso: ISO 8601 dates')
  table.add_argument('--string_ids', action='store_true',
                     help='read every id as a string, even in columns of integers')
  table.add_argument('--max_seq_len', type=int, default=10, help='the protocol split\'s')
  table.add_argument('--min_seq_len', type=int, default=5, help='the protocol split\'s')
  content = parser.add_argument_group('content (optional)')
  content.add_argument('--items', help='a table of items: CSV, TSV, Parquet or RecBole .item')
  content.add_argument('--items_format', choices=tables.FORMATS)
  content.add_argument('--items_item_col', help='default: the interactions\' item column name')
  content.add_argument('--title_col', help='text for title features')
  content.add_argument('--category_cols', default='', help='categorical columns, comma separated')
  content.add_argument('--video_col', help='a column of video paths or URIs')
  content.add_argument('--cover_col', help='a column of image paths or URIs')
  content.add_argument('--videos', help='a folder of <item>.mp4 (.avi, .mov, .mkv, .webm, ...)')
  content.add_argument('--covers', help='a folder of <item>.jpg (.png, .webp, ...)')
  content.add_argument('--num_frames', type=int, default=5, help='frames stored per video')
  content.add_argument('--frame_size', type=int, default=224, help='stored frames are square')
  content.add_argument('--resize', default='squash', choices=[m.value for m in frames.ResizeMode])
  _shared_flags(parser)
  parser.add_argument('--overwrite', action='store_true',
                      help='replace a dataset of this name built from other sources')
  args = parser.parse_args(argv)

  def build() -> None:
    spec = custom_build.CustomBuild(
        name=args.name,
        table=interaction_table.TableSpec(args.interactions, args.format, args.user_col,
                                          args.item_col, args.time_col, args.time_unit,
                                          args.string_ids),
        content=custom_items.ContentSpec(
            args.items, args.items_format, args.items_item_col, args.title_col,
            tuple(c.strip() for c in args.category_cols.split(',') if c.strip()),
            args.video_col, args.cover_col, args.videos, args.covers),
        frame_options=frames.FrameOptions(args.num_frames, 1, args.frame_size, args.frame_size,
                                          frames.ResizeMode(args.resize)),
        max_seq_len=args.max_seq_len, min_seq_len=args.min_seq_len)
    custom_build.build_custom(spec, args.data_dir, engine=args.engine,
                              beam_pipeline_options=args.beam_pipeline_options,
                              num_workers=args.num_workers, overwrite=args.overwrite)

  return cli.exit_status(build)


def main(argv: list[str]) -> int:
  parser = cli.ArgumentParser('jaxlens build', __doc__)
  parser.add_argument('dataset', choices=DATASETS)
  parser.add_argument('flags', nargs=argparse.REMAINDER, help="the dataset's flags")
  args = parser.parse_args(argv)
  return (_microlens if args.dataset == 'microlens' else _custom)(args.flags)


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
