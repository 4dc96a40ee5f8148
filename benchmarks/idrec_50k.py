r"""The paper's IDRec rows on the real MicroLens-50K file: the four CF baselines and the three
sequential models, each at its `configs/<model>.py:cpu` settings (D=64), in one table.

  python -m benchmarks.idrec_50k [--models dssm,...] [--epochs 20] [--workdir DIR]

`--epochs` caps every run (the configs' own caps are 50-120 epochs, hours on 2 cores); early
stopping keeps each config's patience. A model whose workdir already holds `results.json` is
read, not run again, so the table can be built in several sittings. Prints valid and test
HR/NDCG@10/20, training seconds per epoch, and the wall-clock seconds (training and validation
since the start) at the best validation.
"""

import argparse
import os

from absl import logging

from benchmarks import microlens_50k
from benchmarks.videorec_common import results_of

MODELS = 'dssm,lightgcn,nfm,deepfm,sasrec_id,gru4rec_id,nextitnet_id'


def _results(name: str, pairs: str, epochs: int, workdir: str) -> dict:
  config = microlens_50k.config(name, pairs)
  config.train.epochs = min(config.train.epochs, epochs)
  return results_of(config, workdir)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default=os.environ.get('MICROLENS_DATA_DIR', ''))
  parser.add_argument('--models', default=MODELS)
  parser.add_argument('--epochs', type=int, default=20)
  parser.add_argument('--workdir', default='runs/idrec_50k')
  args = parser.parse_args()
  pairs = microlens_50k.pairs_path(args.data_dir)
  logging.set_verbosity(logging.WARNING)
  rows = [(name, _results(name, pairs, args.epochs, os.path.join(args.workdir, name)))
          for name in args.models.split(',')]
  print(f'\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores')
  metrics = ('HR@10', 'NDCG@10', 'HR@20', 'NDCG@20')
  print('\n| model | ' + ' | '.join(f'valid {m}' for m in metrics) + ' | ' +
        ' | '.join(f'test {m}' for m in metrics) +
        ' | epochs run | best epoch | s/epoch (train) | s to best |')
  print('|' + '---|' * 13)
  for name, r in rows:
    best = next(h for h in r['history'] if h['epoch'] == r['best_epoch'])
    print(f'| {name} | ' + ' | '.join(f"{r['valid'][m]:.4f}" for m in metrics) + ' | ' +
          ' | '.join(f"{r['test'][m]:.4f}" for m in metrics) +
          f" | {r['history'][-1]['epoch']} | {r['best_epoch']} | {r['epoch_seconds']:.1f} | "
          f"{best['elapsed_seconds']:.0f} |")


if __name__ == '__main__':
  main()
