r"""jaxlens extract: a frozen item-feature table for the `features` and `id+features` towers.

  # The paper's VIDRec features: VideoMAE-B, mean of the last hidden states, 5x224x224, fp32.
  jaxlens extract --modality video --data microlens/100k --encoder videomae_b \
      --init_from weights/videomae_b --out features/100k-videomae_b
  # Covers through an image-capable encoder (a single frame).
  jaxlens extract --modality cover --data microlens/100k --encoder slow_r50 \
      --init_from weights/slow_r50 --num_frames 1 --out features/100k-cover-slow_r50
  # Titles (TF-IDF + truncated SVD), with categories and likes/views as extra columns.
  jaxlens extract --modality title --titles MicroLens-50k_titles.csv \
      --categories tags_to_summary.csv --out features/50k-title
  # The titles and category columns of a built dataset (a custom one: jaxlens build custom).
  jaxlens extract --modality title --data custom/shop --dim 32 --out features/shop-title

Video and cover tables are encoded in chunks over every device (and host), with a progress bar;
a killed extraction resumes at its last finished chunk when the same command runs again, and
gives the table an uninterrupted run gives. Several hosts run the same command and join as
`jaxlens train` does (`jaxlens.launch`: TPU pods and SLURM are detected, elsewhere
--coordinator_address, --num_processes, --process_id). Errors print as one `error: ...` line,
exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from jaxlens import cli, launch
from jaxlens.data import item_features
from jaxlens.errors import JaxlensError


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = cli.ArgumentParser('jaxlens extract', __doc__)
  parser.add_argument('--modality', required=True, choices=('video', 'cover', 'title'))
  parser.add_argument('--out', required=True, help='folder of the table (created)')
  encoded = parser.add_argument_group('video and cover')
  parser.add_argument('--data', help='built dataset, e.g. microlens/100k or custom/NAME: its '
                      'frames, covers or titles')
  parser.add_argument('--data_dir', default=None, help='TFDS data dir')
  encoded.add_argument('--encoder', help='video encoder name, e.g. videomae_b')
  encoded.add_argument('--init_from', help="folder from jaxlens convert, or 'random'")
  encoded.add_argument('--output', default='features', choices=('head', 'features'))
  encoded.add_argument('--num_frames', type=int, default=5,
                       help='frames per clip (covers: copies of the cover)')
  encoded.add_argument('--frame_size', type=int, default=224)
  encoded.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                       help='compute dtype (the table is stored in float32)')
  encoded.add_argument('--chunk', type=int, default=64, help='items per step, over all devices')
  encoded.add_argument('--seed', type=int, default=0, help="weights of --init_from random")
  encoded.add_argument('--coordinator_address', default=None,
                       help='host:port of process 0, for a multi-process launch that JAX cannot '
                       'detect by itself (TPU pods and SLURM are detected)')
  encoded.add_argument('--num_processes', type=int, default=None,
                       help='with --coordinator_address')
  encoded.add_argument('--process_id', type=int, default=None, help='with --coordinator_address')
  titles = parser.add_argument_group('title')
  titles.add_argument('--titles', help='a MicroLens titles file (50K CSV or 100K title_en); '
                      'or --data, a built dataset')
  titles.add_argument('--categories', default='', help='tags_to_summary.csv: one-hot columns')
  titles.add_argument('--likes_views', default='', help='likes and views file: 2 log columns')
  titles.add_argument('--dim', type=int, default=64, help='SVD components of the titles')
  return parser.parse_args(argv)


def _required(args, *names: str) -> None:
  missing = [f'--{name}' for name in names if not getattr(args, name)]
  if missing:
    raise JaxlensError(f'--modality {args.modality} needs {" and ".join(missing)}')


def _encoded(args) -> None:
  from jaxlens.data import tfds_source  # pylint: disable=g-import-not-at-top
  from jaxlens.extract import encoder_features  # pylint: disable=g-import-not-at-top
  _required(args, 'data', 'encoder', 'init_from')
  launch.join_cluster(args.coordinator_address, args.num_processes, args.process_id)
  reader = tfds_source.ItemFrames if args.modality == 'video' else tfds_source.ItemCovers
  frames = reader(args.data, args.data_dir, num_frames=args.num_frames,
                  size=(args.frame_size, args.frame_size))
  settings = encoder_features.EncoderSettings(
      args.encoder, args.init_from, args.output, args.num_frames, args.frame_size, args.dtype,
      args.seed)
  encoder_features.extract(frames, frames.item_ids, settings, args.out, modality=args.modality,
                           source=args.data, chunk=args.chunk)


def _titles(args) -> None:
  from jaxlens.extract import title_features  # pylint: disable=g-import-not-at-top
  if args.data and not args.titles:
    from jaxlens.data import tfds_source  # pylint: disable=g-import-not-at-top
    title_features.extract_from_dataset(tfds_source.ItemTexts(args.data, args.data_dir), args.out,
                                        dim=args.dim)
    return
  _required(args, 'titles')
  title_features.extract(args.titles, args.out, dim=args.dim, categories_path=args.categories,
                         likes_views_path=args.likes_views)


def _extract(args) -> None:
  (_titles if args.modality == 'title' else _encoded)(args)
  note = item_features.read_note(args.out)
  print(f'wrote {args.out}: {note["count"]:,} items x {note["dim"]} {args.modality} features')


def main(argv: list[str]) -> int:
  args = _parse(argv)
  launch.prefer_onednn_convolutions()  # before JAX starts
  return cli.exit_status(lambda: _extract(args))


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
