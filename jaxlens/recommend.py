r"""jaxlens recommend: the top items of a trained run for users, or for a history.

  jaxlens recommend --workdir runs/toy --users 42,17
  jaxlens recommend --workdir runs/toy --all_users --k 100 --out recs.parquet
  jaxlens recommend --workdir runs/toy --history 12,305,77        (towers that read a history)
  jaxlens recommend --workdir runs/toy --users 42 --as_of test --keep_seen
  jaxlens recommend --workdir runs/toy --export exports/toy --users 42   (items added later too)
  python -m jaxlens.recommend ...                                  (the same)

The run's best committed checkpoint is restored with its own `WORKDIR/config.json`. Users are
named by their ids in the source data. By default everything known of a user (train, valid and
test items) is the history, so the answer is what comes next, and seen items are left out;
`--as_of valid|test` cuts the history where the evaluation does. A few users print as a table;
`--out` writes JSONL, CSV or Parquet (by its suffix), atomically. Bad input is one `error:`
line, exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from jaxlens import cli
from jaxlens.errors import JaxlensError

TABLE_USERS = 10  # at most this many users print as a table


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = cli.ArgumentParser('jaxlens recommend', __doc__)
  parser.add_argument('--workdir', required=True, help='a run of jaxlens train')
  who = parser.add_mutually_exclusive_group(required=True)
  who.add_argument('--users', help='user ids as in the source data, comma-separated')
  who.add_argument('--users_file', help='a file of user ids, one per line')
  who.add_argument('--all_users', action='store_true', help='every user the run knows')
  who.add_argument('--history', help='item ids, oldest first, of someone the run never saw')
  parser.add_argument('--k', type=int, default=10, help='items per user')
  parser.add_argument('--as_of', choices=('valid', 'test'), default=None,
                      help="the history the evaluation reads for that split (default: all)")
  parser.add_argument('--keep_seen', action='store_true', help='seen items stay candidates')
  parser.add_argument('--out', default='', help='a .jsonl, .csv or .parquet file to write')
  parser.add_argument('--export', default='',
                      help='a folder of jaxlens export: rank its table (items added later too)')
  parser.add_argument('--index', action='store_true',
                      help="the export's approximate index instead of the exact top K")
  parser.add_argument('--titles', default='', help='titles file to show (pairs-file runs)')
  parser.add_argument('--categories', default='', help='categories file to show')
  return parser.parse_args(argv)


def _check(args) -> None:
  """What can be checked before the model loads."""
  from jaxlens.serving import output  # pylint: disable=g-import-not-at-top
  if args.k < 1:
    raise JaxlensError(f'--k {args.k} must be at least 1')
  if args.history is not None and args.as_of:
    raise JaxlensError('--as_of cuts a known user\'s history; --history is the whole history')
  if args.index and not args.export:
    raise JaxlensError('--index searches the index of an export: give --export DIR')
  if args.out:
    output.format_of(args.out)


def _recommend(args) -> None:
  # pylint: disable=g-import-not-at-top  # the models load after the flags are checked
  from jaxlens.serving import export, histories, item_info, output, recommendations, restore
  _check(args)
  restored = restore.restore(args.workdir, show_progress=True)
  described = item_info.joined(item_info.from_dataset(restored.config.data),
                               item_info.from_files(args.titles, args.categories))
  served = export.read(args.export, restored) if args.export else None
  catalogue = (item_info.Catalogue(served.original_ids,
                                   item_info.joined(served.describe, described)) if served
               else item_info.Catalogue(restored.data.original_item_ids, described))
  if args.k > catalogue.num_items:
    raise JaxlensError(f'--k {args.k} is more than the {catalogue.num_items:,} items of the '
                       'catalogue')
  queries = _queries(args, restored, catalogue, histories)
  tables = served.tables(restored) if served else restored.tables
  if args.index:
    scores, rows = served.index_search(restored, tables, queries, k=args.k,
                                       keep_seen=args.keep_seen)
  else:
    scores, rows = recommendations.recommend(
        restored, queries, k=args.k, tables=tables, num_items=catalogue.num_items,
        keep_seen=args.keep_seen, show_progress=len(queries.names) > TABLE_USERS)
  ranked = output.Recommendations(queries.names, scores, rows, catalogue, queries.targets)
  if args.out:
    output.write(args.out, ranked)
    print(f'wrote the top {args.k} of {len(queries.names):,} users to {args.out}')
  if len(queries.names) <= TABLE_USERS:
    print(output.terminal_table(ranked))


def _queries(args, restored, catalogue, histories):
  data = restored.data
  if args.history is not None:
    spec = restored.user_spec
    if not spec.reads_history:
      raise JaxlensError(f'the {spec.name} user tower scores a trained user\'s own vector: it '
                         'cannot rank for a new history (use --users)')
    names = [item.strip() for item in args.history.split(',') if item.strip()]
    return histories.of_history(catalogue.rows_of(names, '--history'), data.max_seq_len)
  if args.all_users:
    names = list(data.users)
  elif args.users_file:
    names = histories.read_user_file(args.users_file)
  else:
    names = [user.strip() for user in args.users.split(',') if user.strip()]
    if not names:
      raise JaxlensError('--users is empty: give user ids, comma-separated')
  where = f'--users_file {args.users_file}' if args.users_file else '--users'
  rows = histories.user_indices(data.users, names, where)
  return histories.of_users(data, rows, names, args.as_of)


def main(argv: list[str]) -> int:
  args = _parse(argv)
  return cli.exit_status(lambda: _recommend(args))


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
