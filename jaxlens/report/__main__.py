r"""Command line: tables and figures comparing runs with the paper.

  python -m jaxlens.report runs/table6_toy runs/sasrec_50k --out report/

Finds every run under the folders (a folder holding results.json or config.json) and the runs
their sweeps expect (sweep.json), writes report.md and PNG figures into --out, and prints one
line per run. A folder that does not exist, or holds no run, is one `error:` line (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys

from jaxlens.errors import JaxlensError
from jaxlens.report import document, runs as runs_lib, summary


class _Parser(argparse.ArgumentParser):
  def error(self, message):
    raise JaxlensError(message)


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = _Parser(prog='python -m jaxlens.report', description=__doc__,
                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('folders', nargs='+', help='run folders or folders above them')
  parser.add_argument('--out', required=True, help='report.md and the PNGs go here')
  return parser.parse_args(argv)


def main(argv: list[str]) -> int:
  try:
    args = _parse(argv)
    for folder in args.folders:
      if not os.path.isdir(folder):
        raise JaxlensError(f'{folder}: no such folder')
    found = runs_lib.find(args.folders)
    if not found:
      raise JaxlensError(f'no runs under {", ".join(args.folders)} (no results.json, '
                         'config.json or sweep.json)')
  except JaxlensError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  for run in found:
    print(summary.line(run))
  print(f'wrote {document.write(found, args.out)}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
