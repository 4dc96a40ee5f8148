r"""jaxlens' LightGCN against RecBole 1.2.1's on the same prepared MicroLens-50K data.

  python -m benchmarks.recbole_lightgcn_50k --recbole_python .venv-recbole/bin/python \
      [--epochs 30] [--recbole_epochs 40] [--workdir runs/recbole_lightgcn_50k]

Both read the protocol's sequences (`jaxlens.data.protocol`: the last 13 items of users with at
least 5), written for RecBole as an atomic `.inter` file with positions as timestamps, so its
leave-one-out split (`LS`, time order) is jaxlens' exactly: train `s[:-2]`, valid `s[-2]`, test
`s[-1]`, full ranking over all items with the history masked, Recall (= HR with one target) and
NDCG at 10 and 20, the best epoch by valid NDCG@10. RecBole trains its own LightGCN (BPR with one
uniform negative, batch 2048, lr 1e-3, reg 1e-5) with D=64 and one layer as jaxlens'
`configs/lightgcn.py:cpu` (in-batch softmax with logQ, batch 1024, lr 1e-3), each with early
stopping (patience 10) and an epoch cap (RecBole's epochs took about 150 s each on 2 CPU
cores). RecBole needs PyTorch and its own venv (`.venv-recbole`, see docs/benchmarks.md); this
script runs it there as a subprocess (`--run_recbole`, which imports no jaxlens).

Prints both runs' valid and test metrics, the wall-clock second each first reached RecBole's
best valid NDCG@10, and the machine load.
"""

import argparse
import json
import os
import subprocess
import time

DATASET = 'microlens50k'


def _write_inter(data, folder: str) -> None:
  """One line per kept interaction: user, item (protocol ids), position in the sequence."""
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, f'{DATASET}.inter'), 'w', encoding='utf-8') as f:
    f.write('user_id:token\titem_id:token\ttimestamp:float\n')
    for user, row in enumerate(data.sequences):
      for position, item in enumerate(row[row != 0]):
        f.write(f'{user}\t{item}\t{position}\n')


def _run_recbole(data_path: str, epochs: int, out: str) -> None:
  """Inside the RecBole venv: train, early-stop on valid NDCG@10, test the best epoch."""
  import functools  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from recbole.config import Config  # pylint: disable=g-import-not-at-top
  from recbole.data import create_dataset, data_preparation  # pylint: disable=g-import-not-at-top
  from recbole.model.general_recommender import LightGCN  # pylint: disable=g-import-not-at-top
  from recbole.trainer import Trainer  # pylint: disable=g-import-not-at-top
  from recbole.utils import init_logger, init_seed  # pylint: disable=g-import-not-at-top
  # RecBole 1.2.1 saves its best epoch with pickled objects, which torch >= 2.6 refuses to load
  # by default.
  torch.load = functools.partial(torch.load, weights_only=False)
  config = Config(model='LightGCN', dataset=DATASET, config_dict={
      'data_path': data_path, 'checkpoint_dir': os.path.join(out, 'saved'),
      'load_col': {'inter': ['user_id', 'item_id', 'timestamp']},
      'user_inter_num_interval': '[0,inf)', 'item_inter_num_interval': '[0,inf)',
      'eval_args': {'split': {'LS': 'valid_and_test'}, 'order': 'TO', 'mode': 'full',
                    'group_by': 'user'},
      'metrics': ['Recall', 'NDCG'], 'topk': [10, 20], 'valid_metric': 'NDCG@10',
      'embedding_size': 64, 'n_layers': 1, 'epochs': epochs, 'stopping_step': 10,
      # Full-sort batches count (user, item) pairs: 256 users a batch, not RecBole's 4096 // items.
      'eval_batch_size': 256 * 20_000, 'use_gpu': False, 'show_progress': False, 'seed': 2020})
  init_seed(config['seed'], config['reproducibility'])
  init_logger(config)  # per-epoch train and validation seconds, in log/ of the working folder
  dataset = create_dataset(config)
  train, valid, test = data_preparation(config, dataset)
  trainer = Trainer(config, LightGCN(config, train.dataset).to(config['device']))
  history, start = [], time.time()
  trainer.fit(train, valid, saved=True, show_progress=False, callback_fn=lambda epoch, score:
              history.append({'epoch': epoch + 1, 'elapsed_seconds': time.time() - start,
                              'NDCG@10': float(score)}))
  test_result = trainer.evaluate(test, load_best_model=True, show_progress=False)
  with open(os.path.join(out, 'recbole.json'), 'w', encoding='utf-8') as f:
    json.dump({'valid': dict(trainer.best_valid_result), 'test': dict(test_result),
               'history': history, 'users': dataset.user_num - 1,
               'items': dataset.item_num - 1, 'interactions': len(dataset.inter_feat)}, f)


def _named(recbole_metrics: dict) -> dict:
  """RecBole's 'recall@10' (HR with one target) and 'ndcg@10' as jaxlens names them."""
  return {k.replace('recall', 'HR').replace('ndcg', 'NDCG'): v for k, v in recbole_metrics.items()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default=os.environ.get('MICROLENS_DATA_DIR', ''))
  parser.add_argument('--recbole_python', default='.venv-recbole/bin/python')
  parser.add_argument('--epochs', type=int, default=30, help="jaxlens' epoch cap")
  parser.add_argument('--recbole_epochs', type=int, default=40, help="RecBole's epoch cap")
  parser.add_argument('--workdir', default='runs/recbole_lightgcn_50k')
  parser.add_argument('--run_recbole', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  recbole_out = os.path.join(os.path.abspath(args.workdir), 'recbole')
  if args.run_recbole:
    _run_recbole(recbole_out, args.recbole_epochs, recbole_out)
    return
  from absl import logging  # pylint: disable=g-import-not-at-top
  from benchmarks import microlens_50k  # pylint: disable=g-import-not-at-top
  from jaxlens.data import interactions  # pylint: disable=g-import-not-at-top
  from jaxlens.train import loop  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)
  config = microlens_50k.config('lightgcn', microlens_50k.pairs_path(args.data_dir))
  config.train.epochs = min(config.train.epochs, args.epochs)
  if not os.path.exists(os.path.join(recbole_out, 'recbole.json')):
    _write_inter(interactions.load(config.data), os.path.join(recbole_out, DATASET))
    load = os.getloadavg()[0]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([os.path.abspath(args.recbole_python), '-m', 'benchmarks.recbole_lightgcn_50k',
                    '--run_recbole', '--workdir', os.path.abspath(args.workdir),
                    '--recbole_epochs', str(args.recbole_epochs)],
                   check=True, cwd=recbole_out,  # RecBole writes its logs to the working folder
                   env={**os.environ, 'PYTHONPATH': repo})
    print(f'RecBole ran with load average {load:.2f} at its start')
  with open(os.path.join(recbole_out, 'recbole.json'), encoding='utf-8') as f:
    recbole = json.load(f)
  load = os.getloadavg()[0]
  ours = loop.train_and_evaluate(config, os.path.join(args.workdir, 'jaxlens'))
  print(f'jaxlens ran with load average {load:.2f} at its start, '
        f'{os.getloadavg()[0]:.2f} at its end, on {os.cpu_count()} cores')
  best = max(h['NDCG@10'] for h in recbole['history'])
  recbole_time = next(h['elapsed_seconds'] for h in recbole['history'] if h['NDCG@10'] >= best)
  our_time = microlens_50k.time_to(ours['history'], 'NDCG@10', best)
  print(f'\nRecBole: {recbole["users"]:,} users, {recbole["items"]:,} items, '
        f'{recbole["interactions"]:,} interactions\n')
  print('| run | valid HR@10 | valid NDCG@10 | test HR@10 | test NDCG@10 | test HR@20 | '
        f'test NDCG@20 | epochs | s to valid NDCG@10 >= {best:.4f} |')
  print('|' + '---|' * 9)
  for name, valid, test, epochs, reached in (
      ('RecBole 1.2.1 LightGCN', _named(recbole['valid']), _named(recbole['test']),
       len(recbole['history']), recbole_time),
      ('jaxlens lightgcn:cpu', ours['valid'], ours['test'], len(ours['history']), our_time)):
    print(f"| {name} | {valid['HR@10']:.4f} | {valid['NDCG@10']:.4f} | {test['HR@10']:.4f} | "
          f"{test['NDCG@10']:.4f} | {test['HR@20']:.4f} | {test['NDCG@20']:.4f} | {epochs} | "
          f"{'never' if reached is None else f'{reached:.0f}'} |")
  if our_time:
    print(f'\njaxlens reached RecBole\'s best valid NDCG@10 {recbole_time / our_time:.1f}x sooner')


if __name__ == '__main__':
  main()
