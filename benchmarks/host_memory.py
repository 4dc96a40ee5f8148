r"""Host memory a training process needs per million users: protocol in memory vs read on demand.

  python -m benchmarks.host_memory [--users 200000] [--work_dir /tmp/jaxlens_host_memory]

Writes a synthetic MicroLens-format file (`jaxlens.data.synthetic`: the real 50K's skew), builds
it as the `full` config's interactions with the in-memory builder, then loads it in fresh
processes both ways a training process can (`jaxlens.data.interactions.load`): the protocol
applied in memory to every user, and the protocol split read user by user (only its summary held
whole). Prints each process's resident memory growth and its extrapolation per million users.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys

import ml_collections


def _load_and_measure(data_dir: str, by_user: bool) -> None:
  """In a child: the resident-set growth of one `load`."""
  from jaxlens.data import interactions  # pylint: disable=g-import-not-at-top
  before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  config = ml_collections.ConfigDict({'pairs_path': '', 'name': 'microlens/full', 'dir': data_dir,
                                      'max_seq_len': 10, 'min_seq_len': 5,
                                      'min_item_interactions': 0})
  data = interactions.load(config, rows_by_user=by_user)
  after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  print(f'{data.num_users} {(after - before) * 1024}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--users', type=int, default=200_000)
  parser.add_argument('--work_dir', default='/tmp/jaxlens_host_memory')
  parser.add_argument('--child', choices=('memory', 'by_user'))
  args = parser.parse_args()
  data_dir = os.path.join(args.work_dir, 'tfds')
  if args.child:
    _load_and_measure(data_dir, args.child == 'by_user')
    return
  manual = os.path.join(args.work_dir, 'manual')
  os.makedirs(manual, exist_ok=True)
  pairs = os.path.join(manual, 'MicroLens_pairs.tsv')
  interactions = int(args.users * 7.19)  # the real 50K's mean length
  if not os.path.exists(pairs):
    subprocess.run([sys.executable, '-m', 'jaxlens.data.synthetic', f'--users={args.users}',
                    f'--items={args.users // 5}', f'--interactions={interactions}',
                    f'--out={pairs}'], check=True)
  from jaxlens.data.build import subset  # pylint: disable=g-import-not-at-top
  from jaxlens.data import tfds_source  # pylint: disable=g-import-not-at-top
  if tfds_source.built_dir('microlens/full', data_dir) is None:
    subset.build_subset('full', data_dir=data_dir, manual_dir=manual, engine='memory')
  print(f'{args.users:,} synthetic users, {interactions:,} interactions; load average '
        f'{os.getloadavg()[0]:.1f}\n')
  print('| how a process loads | users | resident memory growth | per million users |')
  print('|---|---:|---:|---:|')
  for mode, name in (('memory', 'protocol in memory'), ('by_user', 'rows read on demand')):
    out = subprocess.run([sys.executable, '-m', 'benchmarks.host_memory', f'--child={mode}',
                          f'--work_dir={args.work_dir}'], check=True, capture_output=True,
                         text=True).stdout.split()
    users, grown = int(out[-2]), int(out[-1])
    print(f'| {name} | {users:,} | {grown / 2**20:.0f} MiB | '
          f'{grown / 2**20 / users * 1e6:.0f} MiB |')


if __name__ == '__main__':
  main()
