"""jaxlens build: everything training needs for one MicroLens subset, without TensorFlow.

  jaxlens build microlens --config=toy [--data_dir D] [--manual_dir M]
      [--num_workers N] [--engine memory|beam] [--beam_pipeline_options K=V,...]

writes `microlens/<release>` (interactions) and `microlens_frames/<config>` (items; not for
`full`) to the data dir, in the array_record format training reads. An interrupted build resumes.
Interactions are built in memory, or with Apache Beam (the build venv, requirements-build.txt)
for `1m`, `full`, large files and whenever Beam options are given.
"""

from __future__ import annotations

import sys

from jaxlens import cli
from jaxlens.builders.subset import build_subset


def main(argv: list[str]) -> int:
  parser = cli.ArgumentParser('jaxlens build', __doc__)
  parser.add_argument('dataset', choices=['microlens'])
  parser.add_argument('--config', required=True,
                      help='toy, 50k, 100k, 1m, full; 50k-crop, ... for aspect-preserving frames')
  parser.add_argument('--data_dir', help='default: ~/tensorflow_datasets or $TFDS_DATA_DIR')
  parser.add_argument('--manual_dir', help='folder holding the official files (else download)')
  parser.add_argument('--num_workers', type=int, help='frame extraction processes (default: cores)')
  parser.add_argument('--engine', choices=['memory', 'beam'],
                      help='how to build the interactions (default: by config and file size)')
  parser.add_argument('--beam_pipeline_options',
                      help='Beam options for the interactions, as for `tfds build`: '
                           'runner=DataflowRunner,project=P,region=R,temp_location=gs://...')
  args = parser.parse_args(argv)
  return cli.exit_status(lambda: build_subset(
      args.config, args.data_dir, args.manual_dir, args.num_workers, args.engine,
      args.beam_pipeline_options))


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
