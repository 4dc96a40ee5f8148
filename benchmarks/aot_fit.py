r"""The paper's SASRec_V runs compiled for TPU slices and GPU hosts on this host: fit, memory, time.

Each cell compiles the real train step of `sasrec_v` (the paper's batch for the encoder and
policy, rounded up to a multiple of the chips, 5 frames at 224 px, bfloat16 compute, every slot
a distinct clip, the clips sent with the batch: `data.clip_store='host'`) for a TPU topology
with libtpu's compiler or for GPUs with XLA:GPU (requirements-tpu.txt,
requirements-gpu-aot.txt; no TPU or GPU needed), and records
whether it fits, the HBM per chip, the roofline lower bound of the step and of one epoch of
MicroLens-100K (100,000 users), the MFU that bound implies, XLA's cost-model time where it
gives one, and with --max_batch the largest global batch that fits. A compile takes one to
several minutes here, so cells, and each compile of a search for the largest batch, are appended
to --results as they finish: a rerun skips the done cells and goes on with a stopped search.

  python -m benchmarks.aot_fit --table encoders            # the 15 encoders, topT, v5e-8
  python -m benchmarks.aot_fit --table policies  # topT/frozen/FT x v5e/v5p/v6e-8, H200, 8 x H100
  python -m benchmarks.aot_fit --table policies --max_batch
  python -m benchmarks.aot_fit --table encoders --max_batch --encoders x3d_m,r3d_18  # some cells
  python -m benchmarks.aot_fit --table policies --max_batch --policies FT --topologies v5e:2x4
  python -m benchmarks.aot_fit --print [--table encoders]  # the cells done so far

The times are the compiler's estimates against the chips' published peaks, not measurements.
"""

from __future__ import annotations

import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import argparse  # pylint: disable=g-import-not-at-top,wrong-import-position
import json  # pylint: disable=g-import-not-at-top,wrong-import-position
import time  # pylint: disable=g-import-not-at-top,wrong-import-position
from typing import Callable  # pylint: disable=g-import-not-at-top,wrong-import-position

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxlens import default_config  # pylint: disable=wrong-import-position
from jaxlens.models.video import registry  # pylint: disable=wrong-import-position
from jaxlens.train import aot, chips, configuration  # pylint: disable=wrong-import-position

USERS, ITEMS = 100_000, 19_738  # MicroLens-100K
V5E_8, V5P_8, V6E_8, H200, H100_8 = 'v5e:2x4', 'v5p:2x2x1', 'v6e:2x4', 'h200:1', 'h100:8'
TARGETS = (V5P_8, V6E_8, H200, H100_8, V5E_8)  # v5e-8 last: the encoders table has topT
NAMES = {V5E_8: 'v5e-8', V5P_8: 'v5p-8 (4 chips)', V6E_8: 'v6e-8', H200: '1 x H200',
         H100_8: '8 x H100'}
POLICY_ENCODERS = ('slowfast_r50', 'mvit_b_32x3', 'videomae_b')
POLICIES = ('topT', 'frozen', 'FT')


def cells(table: str) -> list[tuple[str, str, str]]:
  """(encoder, policy, topology) of a table; the paper's main setting (topT) first."""
  if table == 'encoders':
    return [(name, 'topT', V5E_8) for name in registry.names() if name != 'tiny_c3d']
  return [(name, policy, topology) for policy in POLICIES
          for topology in TARGETS for name in POLICY_ENCODERS]


def config_of(encoder: str, policy: str, batch_size: int = -1):
  """`sasrec_v` with this encoder and policy; batch -1: the paper's."""
  config = default_config.load('sasrec_v')
  config.model.encoder.update(name=encoder, train_mode=policy, init_from='random')
  config.model.dtype = 'bfloat16'
  config.data.clip_store = 'host'  # clips sent with each batch, as the tables were compiled
  config.train.batch_size = batch_size
  return config


def measure(encoder: str, policy: str, topology: str) -> dict:
  """The cell at the paper's batch (rounded up to a multiple of the chips: the data axis)."""
  devices = chips.topology_devices(topology)
  chip = chips.chip_of(devices[0])
  paper = configuration.resolve(config_of(encoder, policy)).train.batch_size
  batch = -(-paper // len(devices)) * len(devices)
  config = configuration.prepare(config_of(encoder, policy, batch), devices)
  data = aot.worst_case_data(config, USERS, ITEMS)
  cell = {'encoder': encoder, 'policy': policy, 'topology': topology, 'chip': chip.name,
          'paper_batch': paper, 'batch': batch}
  start = time.perf_counter()
  try:
    train = aot.compile_steps(config, data, devices=devices, evaluation=False)[0]
  except aot.DoesNotFit as e:
    cell['does_not_fit'] = str(e)
    if e.needs is not None:
      cell['hbm_gib'] = e.needs / 2**30  # what it asked for
    if e.capacity is not None:
      cell['capacity_gib'] = e.capacity / 2**30  # what the compiler allows
  else:
    step = train.roofline_seconds(chip)
    cell.update(hbm_gib=train.memory['total'] / 2**30, tflop=train.flops / 1e12,
                gb_accessed=(None if train.bytes_accessed is None else
                             train.bytes_accessed / 1e9), step_s=step,
                epoch_min=aot.steps_per_epoch(config, data) * step / 60,
                mfu=train.mfu(chip, step), cost_model_s=train.optimal_seconds)
  cell['compile_s'] = time.perf_counter() - start
  jax.clear_caches()
  return cell


def _compiled(line: dict) -> aot.Compiled:
  """What a cell or a search's line says its batch's compile said."""
  needs, capacity = (None if line.get(key) is None else line[key] * 2**30
                     for key in ('hbm_gib', 'capacity_gib'))
  return aot.Compiled('does_not_fit' not in line and line.get('fits', True), needs, capacity)


def _said(compiled: aot.Compiled) -> str:
  return ('fits' if compiled.fits else 'no') + (
      '' if compiled.needs is None else f' {compiled.needs / 2**30:.2f} GiB')


def search(cell: dict, earlier: list[dict], record: Callable[[dict], None]) -> dict:
  """`cell` with the largest batch that fits and the batches tried. Each compile is recorded as
  a line of its own as it ends, and those of a search that stopped (`earlier`) steer this one
  without being made again: a search is many compiles of minutes each."""
  encoder, policy, topology = cell['encoder'], cell['policy'], cell['topology']
  devices = chips.topology_devices(topology)
  known = {cell['batch']: _compiled(cell)} | {r['tried_batch']: _compiled(r) for r in earlier}
  tried = {size: _said(c) for size, c in known.items() if size != cell['batch']}

  def hear(size: int, compiled: aot.Compiled, error) -> None:
    tried[size] = _said(compiled)
    print(f'  batch {size:,}: {error or tried[size]}', flush=True)
    record({'encoder': encoder, 'policy': policy, 'topology': topology, 'tried_batch': size,
            'fits': compiled.fits} | {
                key: value / 2**30 for key, value in (('hbm_gib', compiled.needs),
                                                      ('capacity_gib', compiled.capacity))
                if value is not None})

  config_at = lambda size: configuration.prepare(config_of(encoder, policy, size), devices)
  best = aot.max_batch(config_at, aot.worst_case_data(config_at(cell['batch']), USERS, ITEMS),
                       devices, cell['batch'], known, tried=hear)
  jax.clear_caches()
  return cell | {'tried': tried, 'max_batch': best}


def _read(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def print_table(results: list[dict]) -> None:
  """Markdown; the largest-batch column only where --max_batch ran. * marks a bound from the
  FLOPs alone (GPUs: XLA:GPU gives no bytes without a GPU). A batch that does not fit shows the
  memory it asked for, where the compiler said."""
  searched = any('max_batch' in r for r in results)
  print('| encoder | policy | chips | batch | fits | HBM GiB/chip | step ≥ ms | epoch ≥ s | '
        'MFU ≤ | cost model ms |' + (' largest batch |' if searched else ''))
  print('|---|---|---|---:|---|---:|---:|---:|---:|---:|' + ('---:|' if searched else ''))
  for r in results:
    fit = 'does_not_fit' not in r
    flops_only = '*' if r.get('gb_accessed') is None else ''  # XLA:GPU: bytes unknown
    cost_model = f"{r['cost_model_s'] * 1e3:.0f}" if r.get('cost_model_s', 0) > 0 else '–'
    numbers = (f"{r['hbm_gib']:.1f} | {r['step_s'] * 1e3:.0f}{flops_only} | "
               f"{r['epoch_min'] * 60:.0f}{flops_only} | "
               f"{'–' if flops_only else format(r['mfu'], '.0%')} | {cost_model}"
               if fit else f"{r['hbm_gib']:.1f} | – | – | – | –" if 'hbm_gib' in r
               else '– | – | – | – | –')
    print(f"| {r['encoder']} | {r['policy']} | {NAMES.get(r['topology'], r['topology'])} | "
          f"{r['batch']} | {'yes' if fit else 'no'} | {numbers} |" +
          (f" {r.get('max_batch', '')} |" if searched else ''))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--table', choices=('encoders', 'policies'))
  parser.add_argument('--max_batch', action='store_true')
  parser.add_argument('--encoders', help='only these encoders (comma-separated)')
  parser.add_argument('--policies', help=f'only these policies ({",".join(POLICIES)})')
  parser.add_argument('--topologies', help=f'only these targets ({",".join(TARGETS)})')
  parser.add_argument('--results', default='runs/aot_fit.jsonl')
  parser.add_argument('--print', action='store_true', help='print the tables and stop')
  args = parser.parse_args()
  results = _read(args.results)
  if args.table and not args.print:
    os.makedirs(os.path.dirname(args.results) or '.', exist_ok=True)
    done = {(r['encoder'], r['policy'], r['topology']) for r in results
            if 'max_batch' in r or not args.max_batch}
    wanted = []  # per part of a cell (encoder, policy, topology): the names asked for
    for flag, known in (('encoders', registry.names()), ('policies', POLICIES),
                        ('topologies', TARGETS)):
      names = set(getattr(args, flag).split(',')) if getattr(args, flag) else set(known)
      if names - set(known):
        parser.error(f'--{flag}: unknown {", ".join(sorted(names - set(known)))}')
      wanted.append(names)
    todo = [cell for cell in cells(args.table) if cell not in done
            and all(part in names for part, names in zip(cell, wanted))]

    def record(line: dict) -> None:
      with open(args.results, 'a') as f:
        f.write(json.dumps(line) + '\n')
      results.append(line)

    for i, key in enumerate(todo):
      print(f'[{i + 1}/{len(todo)}] {" ".join(key[:2])} on {key[2]} ...', flush=True)
      lines = [r for r in results if (r['encoder'], r['policy'], r['topology']) == key]
      cell = next((r for r in lines if 'batch' in r), None)  # a stopped search's
      if cell is None:
        cell = measure(*key)
        record(cell)
      if args.max_batch:
        cell = search(cell, [r for r in lines if 'tried_batch' in r], record)
        record(cell)
      print(f'  {json.dumps(cell)}', flush=True)
  latest = {(r['encoder'], r['policy'], r['topology']): r for r in results if 'batch' in r}
  shown = cells(args.table) if args.table else list(latest)
  print_table([latest[cell] for cell in shown if cell in latest])


if __name__ == '__main__':
  main()
