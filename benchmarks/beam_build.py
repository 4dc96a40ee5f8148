"""Interactions build: Apache Beam (DirectRunner, 1 and 2 workers) against the in-memory path.

  .venv-build/bin/python -m benchmarks.beam_build --sizes 1000000,10000000 \
      [--runs memory,beam1,beam2] [--work_dir /tmp/jaxlens_beam_bench]

Run in the build venv (it has Beam). For each size, writes a synthetic `MicroLens-1M_pairs.csv`
(`jaxlens.data.synthetic`: 7.19 interactions per user, items growing as interactions^0.57, the
growth between the 100K, 1M and full releases), then builds `microlens/1m` from it once per run
in a fresh process, sampling the resident memory of that process and its children (Beam's worker
processes) every 0.2 s. Prints one row per build: wall seconds, interactions/s, peak memory, and
the load average before and after; then the in-memory path's memory growth per million
interactions. `--child` is the build itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import psutil

from jaxlens.data import synthetic

RUNS = {'memory': ('memory', 1), 'beam1': ('beam', 1), 'beam2': ('beam', 2)}


def build_child(manual_dir: str, data_dir: str, engine: str, workers: int) -> None:
  """The build whose time and memory the parent measures."""
  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds
  from jaxlens.builders.subset import pipeline_options
  from jaxlens.builders import microlens
  options = pipeline_options(f'direct_num_workers={workers},'
                             'direct_running_mode=multi_processing') if engine == 'beam' else None
  builder = microlens.MicroLens(config='1m', data_dir=data_dir, engine=engine)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir, beam_options=options))


def _tree_rss(process: psutil.Process) -> int:
  total = 0
  for member in [process, *process.children(recursive=True)]:
    try:
      total += member.memory_info().rss
    except psutil.Error:  # a worker that ended between listing and reading
      pass
  return total


def measure(manual_dir: str, data_dir: str, run: str) -> dict:
  engine, workers = RUNS[run]
  shutil.rmtree(data_dir, ignore_errors=True)
  command = [sys.executable, '-m', 'benchmarks.beam_build', '--child', manual_dir, data_dir,
             engine, str(workers)]
  load_before = os.getloadavg()
  start = time.perf_counter()
  child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  process, peak = psutil.Process(child.pid), 0
  while child.poll() is None:
    peak = max(peak, _tree_rss(process))
    time.sleep(0.2)
  seconds = time.perf_counter() - start
  if child.returncode:
    raise RuntimeError(f'{run} failed:\n{child.stderr.read()[-3000:]}')
  return {'run': run, 'seconds': seconds, 'peak_bytes': peak, 'load_before': load_before,
          'load_after': os.getloadavg()}


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--sizes', default='1000000,10000000')
  parser.add_argument('--runs', default='memory,beam1,beam2')
  parser.add_argument('--work_dir', default='/tmp/jaxlens_beam_bench')
  parser.add_argument('--child', nargs=4, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    manual_dir, data_dir, engine, workers = args.child
    build_child(manual_dir, data_dir, engine, int(workers))
    return
  print(f'uptime: {subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}')
  results = []
  for size in map(int, args.sizes.split(',')):
    manual_dir = os.path.join(args.work_dir, f'manual-{size}')
    path = os.path.join(manual_dir, 'MicroLens-1M_pairs.csv')
    if not os.path.exists(path):
      os.makedirs(manual_dir, exist_ok=True)
      spec = synthetic.InteractionSpec(users=round(size / 7.19),
                                       items=round(19_738 * (size / 719_405) ** 0.57),
                                       interactions=size)
      synthetic.write_interactions(path, spec)
    megabytes = os.path.getsize(path) / 1e6
    for run in args.runs.split(','):
      result = dict(measure(manual_dir, os.path.join(args.work_dir, 'tfds'), run),
                    interactions=size, csv_megabytes=megabytes)
      results.append(result)
      print(f'{size:>11,} interactions ({megabytes:,.0f} MB csv) {run:>6}: '
            f'{result["seconds"]:7.1f} s, {size / result["seconds"]:9,.0f} interactions/s, '
            f'peak {result["peak_bytes"] / 2**30:5.2f} GiB, load '
            f'{result["load_before"][0]:.2f} -> {result["load_after"][0]:.2f}', flush=True)
  memory = sorted((r['interactions'], r['peak_bytes']) for r in results if r['run'] == 'memory')
  if len(memory) > 1:
    (small, small_peak), (large, large_peak) = memory[0], memory[-1]
    growth = (large_peak - small_peak) / (large - small) * 1e6
    print(f'in-memory path: {growth / 2**20:,.0f} MiB more peak memory per million interactions')
  with open(os.path.join(args.work_dir, 'results.json'), 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=1)


if __name__ == '__main__':
  main(sys.argv[1:])
