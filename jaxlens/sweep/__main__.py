r"""Command line: run a sweep's cells here, or print their commands for a cluster.

  python -m jaxlens.sweep configs/sweeps/table6.py:toy --root runs/table6_toy [--only A,B]
  python -m jaxlens.sweep configs/sweeps/table6.py --root runs/table6 --print_commands

Exit status: 0 every selected cell finished; 75 stopped (SIGTERM/SIGINT) or cells unfinished: run
the same command again; 1 a cell failed (sweep.json has its last stderr line); 2 a bad sweep file,
root or --only, as one `error:` line before anything runs. `--print_commands` runs nothing but
still writes sweep.json, so the report knows which runs to expect from the cluster.
"""

from __future__ import annotations

import argparse
import sys

from jaxlens.errors import JaxlensError
from jaxlens.sweep import runner, spec
from jaxlens.sweep.state import SweepRecord


class _Parser(argparse.ArgumentParser):
  def error(self, message):
    raise JaxlensError(message)


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = _Parser(prog='python -m jaxlens.sweep', description=__doc__,
                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('sweep', help='sweep file with an optional :arg, e.g. '
                      'configs/sweeps/table6.py:toy')
  parser.add_argument('--root', required=True, help='one workdir per cell goes here, and '
                      'sweep.json')
  parser.add_argument('--print_commands', action='store_true',
                      help='print one launch command per cell and run nothing')
  parser.add_argument('--only', default='', help='comma-separated cell names to run')
  return parser.parse_args(argv)


def _select(jobs: list[spec.Job], only: str) -> list[spec.Job]:
  if not only:
    return jobs
  wanted = [name for name in only.split(',') if name]
  known = {job.name for job in jobs}
  unknown = [name for name in wanted if name not in known]
  if unknown:
    raise JaxlensError(f'--only names unknown cells {", ".join(unknown)}; known: '
                       f'{", ".join(job.name for job in jobs)}')
  return [job for job in jobs if job.name in wanted]


def main(argv: list[str]) -> int:
  try:
    args = _parse(argv)
    jobs = spec.expand(spec.load(args.sweep), args.root)
    selected = _select(jobs, args.only)
    record = SweepRecord(args.sweep, spec.study_name(args.sweep), args.root, jobs)
  except JaxlensError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if args.print_commands:
    record.save()
    print('\n'.join(job.command for job in selected))
    return 0
  return runner.Runner(record).run(selected)


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
