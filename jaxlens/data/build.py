"""Builds everything training needs for one MicroLens subset, without TensorFlow.

  python -m jaxlens.data.build microlens --config=toy [--data_dir D] [--manual_dir M]
      [--num_workers N]

builds `microlens/<release>` (interactions) and `microlens_frames/<config>` (items) in the
array_record format that `jaxlens.data.tfds_source` reads. An interrupted build resumes: finished
extraction shards in `<data_dir>/downloads/microlens_frames_work/` are kept. Run from the
repository root (the builders live in `tfds_builders/`).
"""

from __future__ import annotations

import argparse
import sys

import tensorflow_datasets as tfds

from jaxlens.data import microlens_sources
from jaxlens.data.tfds_source import dataset_names
from jaxlens.errors import JaxlensError
from tfds_builders.microlens import microlens_dataset_builder
from tfds_builders.microlens_frames import microlens_frames_dataset_builder


def build_subset(config: str, data_dir: str | None = None, manual_dir: str | None = None,
                 num_workers: int | None = None) -> None:
  """Builds both datasets of `config` ('toy', '50k', '100k-crop', ...) and prints a report."""
  interactions, items = (n.split('/')[1] for n in dataset_names(f'microlens/{config}'))
  release = microlens_sources.RELEASES[interactions]
  if manual_dir is not None:
    microlens_sources.manual_files(release, manual_dir)  # fails early, naming the files wanted
  download_config = tfds.download.DownloadConfig(manual_dir=manual_dir)
  builders = (
      microlens_dataset_builder.Builder(config=interactions, data_dir=data_dir),
      microlens_frames_dataset_builder.Builder(config=items, data_dir=data_dir,
                                               num_workers=num_workers))
  for builder in builders:
    print(f'building {builder.name}/{builder.builder_config.name} in {builder.data_dir}',
          flush=True)
    builder.download_and_prepare(download_config=download_config)
  metadata = builders[1].info.metadata
  print(f'{builders[0].info.splits["train"].num_examples} users, '
        f'{len(metadata["item_ids"])} items; video status: {metadata["video_status_counts"]}; '
        f'lines about items not in the subset: {metadata["unknown_item_lines"]}')


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(prog='python -m jaxlens.data.build', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('dataset', choices=['microlens'])
  parser.add_argument('--config', required=True,
                      help='toy, 50k, 100k, 1m; 50k-crop, ... for aspect-preserving frames')
  parser.add_argument('--data_dir', help='default: ~/tensorflow_datasets or $TFDS_DATA_DIR')
  parser.add_argument('--manual_dir', help='folder holding the official files (else download)')
  parser.add_argument('--num_workers', type=int, help='frame extraction processes (default: cores)')
  args = parser.parse_args(argv)
  try:
    build_subset(args.config, args.data_dir, args.manual_dir, args.num_workers)
  except JaxlensError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
