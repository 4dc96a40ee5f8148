"""What the MicroLens-50K benchmarks share: the pairs file, configs pointed at it, timings."""

import os
import sys

from jaxlens import default_config

PAIRS = os.path.join('microlens-50k', 'MicroLens-50k_pairs.tsv')


def pairs_path(data_dir: str) -> str:
  """The 50K pairs file under `data_dir` (`MICROLENS_DATA_DIR`); exits with one line if absent."""
  path = os.path.join(data_dir, PAIRS)
  if not os.path.exists(path):
    sys.exit(f'error: {path} not found; pass --data_dir or set MICROLENS_DATA_DIR')
  return path


def config(name: str, pairs: str):
  """`configs/<name>.py:cpu` on the 50K pairs file."""
  loaded = default_config.load(f'{name}:cpu')
  loaded.data.pairs_path = pairs
  return loaded


def time_to(history, metric: str, threshold: float):
  """Seconds since the start of training at the first validation reaching `threshold`."""
  return next((h['elapsed_seconds'] for h in history if h['valid'][metric] >= threshold), None)
