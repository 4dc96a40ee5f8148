r"""SASRec-ID on the real MicroLens-50K file: accuracy, speed and time to the RecBole anchor.

  python -m benchmarks.sasrec_id_50k [--losses full_softmax,in_batch] [--hidden 64]

Runs `configs/sasrec_id.py:cpu` (D=64, 2 blocks, 2 heads, max_seq_len 10, batch 256, lr 1e-3,
dropout 0.2, up to 50 epochs, early stopping on valid NDCG@10 with patience 10) once per loss
and prints, per loss: valid and test HR/NDCG@10/20, seconds per epoch, training sequences/s,
evaluation seconds, and the wall-clock second at which valid NDCG@10 first reached 0.0393
(RecBole 1.2.1's SASRec needed 1,662 s on this kind of machine).
"""

import argparse
import os
import tempfile

from absl import logging

from benchmarks import microlens_50k
from jaxlens.train import loop

ANCHOR_NDCG10 = 0.0393


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default=os.environ.get('MICROLENS_DATA_DIR', ''))
  parser.add_argument('--losses', default='full_softmax,in_batch')
  parser.add_argument('--hidden', type=int, default=64)
  parser.add_argument('--epochs', type=int, default=50)
  parser.add_argument('--workdir', default='')
  args = parser.parse_args()
  pairs_path = microlens_50k.pairs_path(args.data_dir)
  logging.set_verbosity(logging.WARNING)
  rows = []
  for loss in args.losses.split(','):
    config = microlens_50k.config('sasrec_id', pairs_path)
    config.loss.name = loss
    config.model.hidden = args.hidden
    config.train.epochs = args.epochs
    workdir = os.path.join(args.workdir or tempfile.mkdtemp(), f'sasrec_id_{loss}_d{args.hidden}')
    results = loop.train_and_evaluate(config, workdir)
    rows.append((loss, results, microlens_50k.time_to(results['history'], 'NDCG@10',
                                                      ANCHOR_NDCG10)))
  print('\n| loss | D | valid HR@10 | valid NDCG@10 | test HR@10 | test NDCG@10 | test HR@20 | '
        'test NDCG@20 | best epoch | s/epoch | train seq/s | eval s | s to valid NDCG@10 '
        f'{ANCHOR_NDCG10} |')
  print('|' + '---|' * 13)
  for loss, r, reached in rows:
    v, t = r['valid'], r['test']
    print(f"| {loss} | {args.hidden} | {v['HR@10']:.4f} | {v['NDCG@10']:.4f} | {t['HR@10']:.4f} | "
          f"{t['NDCG@10']:.4f} | {t['HR@20']:.4f} | {t['NDCG@20']:.4f} | {r['best_epoch']} | "
          f"{r['epoch_seconds']:.1f} | {r['train_sequences_per_second']:.0f} | "
          f"{r['eval_seconds']:.1f} | {'never' if reached is None else f'{reached:.0f}'} |")


if __name__ == '__main__':
  main()
