"""What the checkpoint checksums cost: sealing a step and checking it, against saving and
restoring it.

  python -m benchmarks.checkpoint_checksums [--hidden 1024] [--repeats 3]

A SASRec-ID train state at the paper's width (hidden 1024, 2 blocks, Adam: about 0.3 GB for
the 40 synthetic users' 30 items plus the blocks) is saved and restored through `Checkpoints` on a
local disk. Printed, the medians over the repeats: the save (to the commit, the manifest
included), writing the manifest alone, the check alone and the restore, with the manifest's
share of the save and the check's share of check plus restore.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

from jaxlens.data import synthetic
from jaxlens.train import checksums
from jaxlens.train.checkpoint import Checkpoints, RunState


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--hidden', type=int, default=1024)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()
  from tests import helpers  # pylint: disable=g-import-not-at-top  # the tests' tiny config
  root = tempfile.mkdtemp(prefix='checkpoint_checksums_')
  try:
    pairs_path = os.path.join(root, 'toy_pairs.tsv')
    helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
    config = helpers.tiny_config()
    config.data.pairs_path, config.model.hidden = pairs_path, args.hidden
    state = helpers.train_state(config)
    times = {name: [] for name in ('save', 'manifest', 'check', 'restore')}
    for repeat in range(args.repeats):
      workdir = os.path.join(root, f'run{repeat}')
      checkpoints = Checkpoints(workdir)
      start = time.perf_counter()
      checkpoints.save(1, state, RunState(saved_step=1))
      checkpoints.wait()
      times['save'].append(time.perf_counter() - start)
      folder = os.path.join(workdir, 'checkpoints', '1')
      start = time.perf_counter()
      checksums.write(folder)
      times['manifest'].append(time.perf_counter() - start)
      start = time.perf_counter()
      assert checksums.check(folder) is None
      times['check'].append(time.perf_counter() - start)
      start = time.perf_counter()
      checkpoints._restore(1, state)  # pylint: disable=protected-access  # the restore alone
      times['restore'].append(time.perf_counter() - start)
    files = [os.path.join(dirpath, name) for dirpath, _, names in os.walk(folder)
             for name in names]
    size = sum(os.path.getsize(path) for path in files)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f'step folder: {size / 1e6:.1f} MB in {len(files)} files; medians of {args.repeats}')
    for name, value in median.items():
      print(f'  {name:8s} {value:7.3f} s  ({size / 1e6 / value:7.0f} MB/s)')
    print(f'manifest: {median["manifest"] / median["save"]:.1%} of the save; check: '
          f'{median["check"] / (median["check"] + median["restore"]):.1%} of check + restore')
  finally:
    shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
  main()
