r"""jaxlens embed_items: add items to an export after training, from their content.

  jaxlens embed_items --workdir runs/toy --export exports/toy --videos new_videos/
  jaxlens embed_items --workdir runs/vbpr --export exports/vbpr --covers new_covers/
  jaxlens embed_items --workdir runs/titles --export exports/titles --titles new_titles.csv
  python -m jaxlens.embed_items ...                                     (the same)

Files are named by their item id (`12345.mp4`, `12345.jpg`; a titles file in the release's
format). Each item's content is read exactly as the builders and `jaxlens extract` read it,
encoded by the run's trained item tower, and appended to the export's table under its id, so
`jaxlens recommend --export` and the exported query function rank it at once. An ID-only item
tower refuses: it has nothing to embed a new item with. Bad input (an id the export holds, a
missing or undecodable file, a title missing) is one `error:` line, exit status 2, and the
export is left as it was.
"""

from __future__ import annotations

import argparse
import sys

from jaxlens import cli, launch


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = cli.ArgumentParser('jaxlens embed_items', __doc__)
  parser.add_argument('--workdir', required=True, help='the run the export was made from')
  parser.add_argument('--export', required=True, help='a folder of jaxlens export')
  content = parser.add_mutually_exclusive_group(required=True)
  content.add_argument('--videos', help='a folder of <item id>.mp4 videos')
  content.add_argument('--covers', help='a folder of <item id>.jpg covers')
  content.add_argument('--titles', help='a titles file of the new items')
  parser.add_argument('--categories', default='',
                      help='with --titles: a categories file (tags_to_summary.csv format)')
  return parser.parse_args(argv)


def _embed(args) -> None:
  # pylint: disable=g-import-not-at-top  # the models load after the flags are checked
  from jaxlens.serving import export, new_items, restore
  content = new_items.NewContent(args.videos or '', args.covers or '', args.titles or '',
                                 args.categories)
  restored = restore.restore(args.workdir, show_progress=False)
  served = export.read(args.export, restored)
  ids, inputs, described = new_items.item_inputs(restored, content, served.check_new)
  note = export.append(served, ids, new_items.table_rows(restored, inputs), described)
  print(f'added {len(ids):,} items to {args.export} ({note["items"]:,} items now): '
        + ', '.join(map(str, ids[:10])) + (', ...' if len(ids) > 10 else ''))


def main(argv: list[str]) -> int:
  args = _parse(argv)
  launch.prefer_onednn_convolutions()  # before JAX starts: videos are encoded
  return cli.exit_status(lambda: _embed(args))


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
