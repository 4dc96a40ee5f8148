r"""jaxlens sweep: run a sweep's cells here, or print their commands for a cluster.

  jaxlens sweep table6:toy --root runs/table6_toy [--only A,B]
  jaxlens sweep table6 --root runs/table6 --print_commands

The sweep is one shipped with jaxlens by name (`table6`, `table8`, `fig5`: `jaxlens/configs/sweeps`)
or a Python file with `get_sweep(arg)`.

Exit status: 0 every selected cell finished; 75 stopped (SIGTERM/SIGINT) or cells unfinished: run
the same command again; 1 a cell failed (sweep.json has its last stderr line); 2 a bad sweep file,
root or --only, as one `error:` line before anything runs. `--print_commands` runs nothing but
still writes sweep.json, so the report knows which runs to expect from the cluster.
"""

from __future__ import annotations

import argparse
import sys

from jaxlens import cli
from jaxlens.errors import JaxlensError
from jaxlens.sweep import runner, spec
from jaxlens.sweep.state import SweepRecord


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = cli.ArgumentParser('jaxlens sweep', __doc__)
  parser.add_argument('sweep', help='a sweep by name with an optional :arg (table6:toy), or a '
                      'sweep file (my_sweep.py:arg)')
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


def _sweep(args) -> int:
  jobs = spec.expand(spec.load(args.sweep), args.root)
  selected = _select(jobs, args.only)
  record = SweepRecord(args.sweep, spec.study_name(args.sweep), args.root, jobs)
  if args.print_commands:
    record.save()
    print('\n'.join(job.command for job in selected))
    return 0
  return runner.Runner(record).run(selected)


def main(argv: list[str]) -> int:
  args = _parse(argv)
  return cli.exit_status(lambda: _sweep(args))


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
