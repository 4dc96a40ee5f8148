r"""Top-100 recommendations for every MicroLens-50K user from a SASRec-ID `:cpu` run.

  jaxlens train --config sasrec_id:cpu --workdir /tmp/sasrec_id_50k --config.train.epochs=2 \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
  python benchmarks/recommend_50k.py --workdir /tmp/sasrec_id_50k

Runs `jaxlens recommend --all_users --k 100 --out recs.parquet` as a user would (a fresh
process on the machine's own devices: restore, item table, 50,000 users ranked over the sharded
exact top K, the Parquet file) and prints its wall time, the CPU time it used, and the load
average before and after: on a shared machine the CPU time says what the command costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--k', type=int, default=100)
  args = parser.parse_args()
  out = os.path.join(tempfile.mkdtemp(), 'recs.parquet')
  env = {key: value for key, value in os.environ.items() if key != 'XLA_FLAGS'}
  env['PYTHONPATH'] = REPO
  before = os.getloadavg()
  start = time.perf_counter()
  subprocess.run([sys.executable, '-m', 'jaxlens.recommend', '--workdir', args.workdir,
                  '--all_users', '--k', str(args.k), '--out', out], check=True, env=env)
  wall = time.perf_counter() - start
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  import pyarrow.parquet  # pylint: disable=g-import-not-at-top
  rows = pyarrow.parquet.read_metadata(out).num_rows
  print(f'top {args.k} of every user: {rows:,} rows in {wall:.1f} s wall, '
        f'{usage.ru_utime + usage.ru_stime:.1f} s CPU; load average before '
        f'{before[0]:.2f}, after {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
  main()
