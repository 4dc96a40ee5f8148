r"""jaxlens report: tables and figures comparing runs with the paper.

  jaxlens report runs/table6_toy runs/sasrec_50k --out report/

Finds every run under the folders (a folder holding results.json or config.json) and the runs
their sweeps expect (sweep.json), writes report.md and PNG figures into --out, and prints one
line per run. A folder that does not exist, or holds no run, is one `error:` line (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys

from jaxlens import cli
from jaxlens.errors import JaxlensError
from jaxlens.report import document, runs as runs_lib, summary


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = cli.ArgumentParser('jaxlens report', __doc__)
  parser.add_argument('folders', nargs='+', help='run folders or folders above them')
  parser.add_argument('--out', required=True, help='report.md and the PNGs go here')
  return parser.parse_args(argv)


def _report(args) -> None:
  for folder in args.folders:
    if not os.path.isdir(folder):
      raise JaxlensError(f'{folder}: no such folder')
  found = runs_lib.find(args.folders)
  if not found:
    raise JaxlensError(f'no runs under {", ".join(args.folders)} (no results.json, '
                       'config.json or sweep.json)')
  for run in found:
    print(summary.line(run))
  print(f'wrote {document.write(found, args.out)}')


def main(argv: list[str]) -> int:
  args = _parse(argv)
  return cli.exit_status(lambda: _report(args))


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
