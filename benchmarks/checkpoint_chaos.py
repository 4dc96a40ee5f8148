"""Damage to a finished run's latest checkpoint, file by file, and what a resumed run makes of it.

  python -m benchmarks.checkpoint_chaos [--root runs/checkpoint_chaos] [--one_file_per_kind]

A tiny SASRec-ID run (40 synthetic users, 2 epochs of 3 steps: checkpoints 3 and 6) is trained
once. Then, for each file of step 6 in turn and each damage (bytes flipped: every 97th byte
inverted; truncated to half; emptied; deleted), and for the whole step folder (deleted; renamed
half-way, as a move killed midway leaves it: half its files under `6.damaged`), a copy of the
run's workdir is damaged and the same command runs again on it. The table counts, per damage and
kind of file, the runs that finished, the runs whose terminal showed exactly one warning line,
what they resumed from, and the runs whose test metrics and validation history equal the
undamaged run's (which went from step 3 to step 6 the same way: batch i is a function of the
seed and i, so step 3 retrained is step 6 again).

The damages and the kinds of files are shared with `tests/test_checkpoint_chaos.py`.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import logging as std_logging
import os
import shutil

from jaxlens.data import synthetic

DAMAGES = ('bytes flipped', 'truncated', 'emptied', 'deleted')
STEP_DAMAGES = ('step deleted', 'step renamed half-way')


def damage(path: str, kind: str) -> None:
  """One of `DAMAGES` to the file `path`."""
  if kind == 'bytes flipped':
    with open(path, 'r+b') as f:
      data = bytearray(f.read())
      data[::97] = bytes(b ^ 0xff for b in data[::97])
      f.seek(0)
      f.write(data)
  elif kind == 'truncated':
    os.truncate(path, os.path.getsize(path) // 2)
  elif kind == 'emptied':
    os.truncate(path, 0)
  elif kind == 'deleted':
    os.remove(path)
  else:
    raise ValueError(kind)


def files(step_folder: str) -> list[str]:
  """The files of a step folder, relative to it, sorted."""
  return sorted(os.path.relpath(os.path.join(root, name), step_folder)
                for root, _, names in os.walk(step_folder) for name in names)


def damage_step(step_folder: str, kind: str) -> None:
  """One of `STEP_DAMAGES` to a whole step folder."""
  if kind == 'step deleted':
    shutil.rmtree(step_folder)
  elif kind == 'step renamed half-way':
    moved = files(step_folder)
    for name in moved[:len(moved) // 2]:
      target = os.path.join(f'{step_folder}.damaged', name)
      os.makedirs(os.path.dirname(target), exist_ok=True)
      os.rename(os.path.join(step_folder, name), target)
  else:
    raise ValueError(kind)


_FILE_KINDS = (  # (pattern of a path in the step folder, kind): the first that matches
    ('state/ocdbt.process_*/d/*', 'state: OCDBT data (per process)'),
    ('state/d/*', 'state: OCDBT data'),
    ('state/ocdbt.process_*/manifest.ocdbt', 'state: OCDBT manifest (per process)'),
    ('state/manifest.ocdbt', 'state: OCDBT manifest'),
    ('state/_METADATA', 'state: tree metadata'),
    ('state/_sharding', 'state: shardings'),
    ('state/array_metadatas/*', 'state: array metadata'),
    ('*/commit_success.txt', 'item commit marker'),
    ('commit_success.txt', 'step commit marker'),
    ('_CHECKPOINT_METADATA', 'step metadata'),
    ('checksums.json', 'checksum manifest'),
    ('run/*', 'run state (JSON)'),
)


def file_kind(name: str) -> str:
  """What a file of a step folder is, for the table."""
  return next((kind for pattern, kind in _FILE_KINDS if fnmatch.fnmatch(name, pattern)), name)


def one_of_each_kind(names: list[str]) -> list[str]:
  """The first of `names` of each `file_kind`."""
  return list({file_kind(name): name for name in reversed(names)}.values())


def tiny_config(pairs_path: str, cache: str):
  from tests import helpers  # pylint: disable=g-import-not-at-top  # the tests' tiny config
  config = helpers.tiny_config()
  config.data.pairs_path = pairs_path
  config.compilation_cache_dir = cache  # every resumed run reuses the first one's compiles
  return config


class _Warnings(std_logging.Handler):
  """The warning lines a run's terminal shows."""

  def __init__(self):
    super().__init__(std_logging.WARNING)
    self.lines = []

  def emit(self, record):
    if f'{os.sep}orbax{os.sep}' not in record.pathname and record.name != 'asyncio':
      self.lines.append(record.getMessage())


def _resume(config, workdir: str) -> tuple[str, dict | None, list[str]]:
  """(how it ended, results, warning lines) of the command run again on `workdir`."""
  from jaxlens.errors import JaxlensError  # pylint: disable=g-import-not-at-top
  from jaxlens.train import loop  # pylint: disable=g-import-not-at-top
  handler = _Warnings()
  std_logging.getLogger().addHandler(handler)
  try:
    results = loop.train_and_evaluate(config, workdir)
    return 'exit 0', results, handler.lines
  except JaxlensError as e:
    return f'exit 2: {str(e)[:60]}', None, handler.lines
  finally:
    std_logging.getLogger().removeHandler(handler)


def _resumed_from(lines: list[str]) -> str:
  for line in lines:
    if 'resumed from step' in line:
      return 'step ' + line.rsplit('resumed from step ', 1)[1].split()[0]
  return 'the newest step left, unannounced'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--root', default='runs/checkpoint_chaos')
  parser.add_argument('--one_file_per_kind', action='store_true',
                      help='damage one file of each kind (the per-process OCDBT data files are '
                      'most of the step), not every file')
  args = parser.parse_args()
  import jax  # pylint: disable=g-import-not-at-top
  from jaxlens.train import loop  # pylint: disable=g-import-not-at-top
  from tests import helpers  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  root = os.path.abspath(args.root)
  shutil.rmtree(root, ignore_errors=True)
  os.makedirs(root)
  pairs_path = os.path.join(root, 'toy_pairs.tsv')
  helpers.write_pairs(pairs_path, synthetic.sequential_interactions(users=40))
  config = tiny_config(pairs_path, os.path.join(root, 'compilation_cache'))
  straight = loop.train_and_evaluate(config, os.path.join(root, 'straight'))
  step = os.path.join(root, 'straight', 'checkpoints', '6')
  names = files(step)
  if args.one_file_per_kind:
    names = one_of_each_kind(names)
  cases = [(kind, file_kind(name), name) for name in names for kind in DAMAGES]
  cases += [(kind, 'whole step folder', None) for kind in STEP_DAMAGES]
  table = collections.defaultdict(lambda: collections.Counter())
  for i, (kind, what, name) in enumerate(cases):
    workdir = os.path.join(root, 'case')
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(os.path.join(root, 'straight'), workdir)
    os.remove(os.path.join(workdir, 'results.json'))
    folder = os.path.join(workdir, 'checkpoints', '6')
    if name is None:
      damage_step(folder, kind)
    else:
      damage(os.path.join(folder, name), kind)
    ended, results, lines = _resume(config, workdir)
    equal = results is not None and results['test'] == straight['test'] and [
        h['valid'] for h in results['history']] == [h['valid'] for h in straight['history']]
    row = table[(kind, what)]
    row['runs'] += 1
    row[ended] += 1
    row['one warning line'] += len(lines) == 1
    row[f'resumed from {_resumed_from(lines)}'] += 1
    row['equal'] += equal
    print(f'[{i + 1}/{len(cases)}] {kind} {name or "(step)"}: {ended}, {len(lines)} warning '
          f'line(s), {_resumed_from(lines)}, metrics {"equal" if equal else "DIFFER"}',
          flush=True)
  print('\n| damage | file kind | runs | exit | warning lines | resumed from | final metrics '
        'equal to the undamaged run |\n|---|---|---|---|---|---|---|')
  for (kind, what), row in sorted(table.items()):
    exits = ', '.join(f'{k} x{v}' for k, v in row.items() if k.startswith('exit'))
    resumed = ', '.join(f'{k[len("resumed from "):]} x{v}' for k, v in row.items()
                        if k.startswith('resumed from'))
    print(f'| {kind} | {what} | {row["runs"]} | {exits} | {row["one warning line"]}/{row["runs"]}'
          f' one | {resumed} | {row["equal"]}/{row["runs"]} |')


if __name__ == '__main__':
  main()
