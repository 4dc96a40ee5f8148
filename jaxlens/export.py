r"""jaxlens export: what a service needs to rank a trained run's items, without jaxlens's models.

  jaxlens export --workdir runs/toy --out exports/toy
  python -m jaxlens.export --workdir runs/toy --out exports/toy        (the same)

Writes, from the run's best committed checkpoint: the item table (one vector per item, computed
once by the trained item tower), the item id map, the query function (a history or a user to a
query) and the score function serialized with `jax.export` for CPU, CUDA and TPU, and `note.json`
(model, config, dimensions, jaxlens version, the weights' fingerprint). `--index` adds the
approximate nearest-neighbour index of the table (ScaNN), for `jaxlens recommend --index`. Load an export with
`jaxlens.serving.exported.Export.load`; `python -m jaxlens.serving.saved_model` turns it into a
TensorFlow SavedModel (in the build venv, beside TensorFlow). The folder appears whole or not at
all. Bad input is one `error:` line, exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from jaxlens import cli, launch


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = cli.ArgumentParser('jaxlens export', __doc__)
  parser.add_argument('--workdir', required=True, help='a run of jaxlens train')
  parser.add_argument('--out', required=True, help='the export folder (must not exist)')
  parser.add_argument('--index', action='store_true',
                      help='also build the approximate nearest-neighbour index of the table')
  return parser.parse_args(argv)


def _export(args) -> None:
  # pylint: disable=g-import-not-at-top  # the models load after the flags are checked
  from jaxlens.serving import export, restore
  restored = restore.restore(args.workdir, show_progress=True)
  note = export.write(restored, args.out, with_index=args.index)
  print(f'wrote {args.out}: {note["items"]:,} items x {note["dim"]} ({note["model"]["user_tower"]}'
        f' / {note["model"]["item_tower"]}, step {note["step"]}), query and score functions '
        f'for {", ".join(note["platforms"])}' + (', and its ScaNN index' if args.index else ''))


def main(argv: list[str]) -> int:
  args = _parse(argv)
  launch.prefer_onednn_convolutions()  # before JAX starts: video items are encoded
  return cli.exit_status(lambda: _export(args))


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
