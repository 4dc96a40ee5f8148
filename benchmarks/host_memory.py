r"""Host memory a training process needs per million users: protocol in memory vs read on demand.

  python -m benchmarks.host_memory [--users 50000,200000] [--work_dir /tmp/jaxlens_host_memory]

Writes synthetic MicroLens-format files of two sizes (`jaxlens.data.synthetic`: the 50K's skew),
builds each as the `full` config's interactions with the in-memory builder, then loads it in fresh
processes both ways a training process can (`jaxlens.data.interactions.load`): the protocol
applied in memory to every user, and the protocol split read user by user (only its summary held
whole). Prints what each load adds to the process's resident memory, held and at its peak, and
the slope between the two sizes per million users (the libraries' constant part left out).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys

import ml_collections


def _memory_kib(field: str) -> int:
  with open('/proc/self/status') as f:
    return next(int(line.split()[1]) for line in f if line.startswith(field + ':'))


def _load_and_measure(data_dir: str, by_user: bool) -> None:
  """In a child: the resident memory one `load` adds and its peak over the start (KiB)."""
  # Imported first: the libraries' own memory is not the data's.
  # pylint: disable-next=g-import-not-at-top,unused-import
  from jaxlens.data import interactions, sharded, tfds_source
  before = _memory_kib('VmRSS')
  with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')  # resets the peak (VmHWM) to the current resident set
  config = ml_collections.ConfigDict({'pairs_path': '', 'name': 'microlens/full', 'dir': data_dir,
                                      'max_seq_len': 10, 'min_seq_len': 5,
                                      'min_item_interactions': 0})
  data = interactions.load(config, rows_by_user=by_user)  # held while measured
  print(data.num_users, _memory_kib('VmRSS') - before, _memory_kib('VmHWM') - before)


def _build(work_dir: str, users: int) -> str:
  """A synthetic file of `users` users built as the `full` config; its data dir."""
  data_dir, manual = os.path.join(work_dir, 'tfds'), os.path.join(work_dir, 'manual')
  os.makedirs(manual, exist_ok=True)
  pairs = os.path.join(manual, 'MicroLens_pairs.tsv')
  if not os.path.exists(pairs):
    subprocess.run([sys.executable, '-m', 'jaxlens.data.synthetic', f'--users={users}',
                    f'--items={users // 5}', f'--interactions={int(users * 7.19)}',
                    f'--out={pairs}'], check=True)  # 7.19: the real 50K's mean length
  from jaxlens.builders import subset  # pylint: disable=g-import-not-at-top
  from jaxlens.data import tfds_source  # pylint: disable=g-import-not-at-top
  if tfds_source.built_dir('microlens/full', data_dir) is None:
    subset.build_subset('full', data_dir=data_dir, manual_dir=manual, engine='memory')
  return data_dir


def _measure(data_dir: str, mode: str) -> tuple[float, float]:
  """(held, peak) MiB a fresh process adds by loading `data_dir` one way."""
  out = subprocess.run([sys.executable, '-m', 'benchmarks.host_memory', f'--child={mode}',
                        f'--data_dir={data_dir}'], check=True, capture_output=True,
                       text=True).stdout.split()
  return int(out[-2]) / 2**10, int(out[-1]) / 2**10


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--users', default='50000,200000', help='two sizes (the slope between '
                      'them is the cost per user, without the constant part)')
  parser.add_argument('--work_dir', default='/tmp/jaxlens_host_memory')
  parser.add_argument('--child', choices=('memory', 'by_user'))
  parser.add_argument('--data_dir')
  args = parser.parse_args()
  if args.child:
    _load_and_measure(args.data_dir, args.child == 'by_user')
    return
  sizes = [int(n) for n in args.users.split(',')]
  data_dirs = [_build(os.path.join(args.work_dir, str(n)), n) for n in sizes]
  print(f'synthetic users {sizes}, 7.19 interactions each on average; load average '
        f'{os.getloadavg()[0]:.1f}\n')
  print('| how a process loads | users | resident growth | peak growth |')
  print('|---|---:|---:|---:|')
  slopes = {}
  for mode, name in (('memory', 'protocol in memory'), ('by_user', 'rows read on demand')):
    figures = [_measure(d, mode) for d in data_dirs]
    for users, (held, peak) in zip(sizes, figures):
      print(f'| {name} | {users:,} | {held:.0f} MiB | {peak:.0f} MiB |')
    (held0, peak0), (held1, peak1) = figures[0], figures[-1]
    per_million = 1e6 / (sizes[-1] - sizes[0])
    slopes[name] = ((held1 - held0) * per_million, (peak1 - peak0) * per_million)
  print()
  for name, (held, peak) in slopes.items():
    print(f'{name}: {held:.0f} MiB held, {peak:.0f} MiB at the peak, per million users')


if __name__ == '__main__':
  main()
