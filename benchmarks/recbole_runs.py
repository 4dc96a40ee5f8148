r"""RecBole 1.2.1 on jaxlens' prepared MicroLens-50K data: the atomic file, the run, the table.

jaxlens and RecBole read the same protocol sequences (`jaxlens.data.protocol`: the last 13 items
of users with at least 5), written for RecBole as an atomic `.inter` file with positions as
timestamps, so its leave-one-out split (`LS`, time order) is jaxlens' exactly: train `s[:-2]`,
valid `s[-2]`, test `s[-1]`, full ranking over all items with the history masked, Recall (= HR
with one target) and NDCG at 10 and 20, the best epoch by valid NDCG@10.

RecBole needs PyTorch and its own venv (`.venv-recbole`, made as `requirements-recbole.txt`
says): `run_in_venv` starts this module there as a subprocess (`python -m benchmarks.recbole_runs
MODEL ...`), which imports no jaxlens, and reads back the `recbole.json` it writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import time

DATASET = 'microlens50k'
# Each side's batch sizes are its own recipe's; D=64 on both. Sequential models see the last 10
# items, as jaxlens' `max_seq_len`; they train with full-softmax cross-entropy ('CE').
_SEQUENTIAL = {'MAX_ITEM_LIST_LENGTH': 10, 'loss_type': 'CE', 'train_neg_sample_args': None,
               'train_batch_size': 256}

# RecBole's context models read the interaction's fields (user and item ids; the position is only
# for the split) and train point-wise BCE with one uniform negative, which their quick-start
# settings turn off (`train_neg_sample_args: ~`: they expect labelled data). They have no
# full-ranking path: a validation runs all 50,000 x 19,099 (user, item) pairs through the
# network, 35 minutes for NFM on 2 cores against an epoch's 7 s of training, so they validate
# every third epoch.
_CONTEXT = {'embedding_size': 64, 'unused_col': {'inter': ['timestamp']},
            'train_neg_sample_args': {'distribution': 'uniform', 'sample_num': 1},
            'eval_step': 3}


@dataclasses.dataclass(frozen=True)
class Pair:
  """A jaxlens config (`configs/<config>.py:cpu`) and the RecBole model it is measured against."""

  config: str
  recbole: str  # the RecBole model class
  package: str  # its recbole.model sub-package
  settings: dict  # RecBole config entries beyond the shared ones


PAIRS = {
    'sasrec': Pair('sasrec_id', 'SASRec', 'sequential_recommender', {
        **_SEQUENTIAL, 'n_layers': 2, 'n_heads': 2, 'hidden_size': 64, 'inner_size': 256,
        'hidden_dropout_prob': 0.2, 'attn_dropout_prob': 0.2}),
    'gru4rec': Pair('gru4rec_id', 'GRU4Rec', 'sequential_recommender', {
        **_SEQUENTIAL, 'embedding_size': 64, 'hidden_size': 64, 'num_layers': 1,
        'dropout_prob': 0.2}),
    # block_num 2 with dilations [1, 4]: four residual blocks, as jaxlens' two (1, 4) pairs.
    'nextitnet': Pair('nextitnet_id', 'NextItNet', 'sequential_recommender', {
        **_SEQUENTIAL, 'embedding_size': 64, 'block_num': 2}),
    # BPR with one uniform negative, batch 2048, lr 1e-3 (RecBole's defaults).
    'lightgcn': Pair('lightgcn', 'LightGCN', 'general_recommender', {
        'embedding_size': 64, 'n_layers': 1}),
    'nfm': Pair('nfm', 'NFM', 'context_aware_recommender', _CONTEXT),
    'deepfm': Pair('deepfm', 'DeepFM', 'context_aware_recommender', _CONTEXT),
}


def write_inter(data, folder: str) -> None:
  """One line per kept interaction: user, item (protocol ids), position in the sequence."""
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, f'{DATASET}.inter')
  with open(path + '.part', 'w', encoding='utf-8') as f:
    f.write('user_id:token\titem_id:token\ttimestamp:float\n')
    for user, row in enumerate(data.sequences):
      for position, item in enumerate(row[row != 0]):
        f.write(f'{user}\t{item}\t{position}\n')
  os.replace(path + '.part', path)


def _train_and_test(name: str, data_path: str, epochs: int, out: str) -> None:
  """Inside the RecBole venv: train, early-stop on valid NDCG@10, test the best epoch."""
  import functools  # pylint: disable=g-import-not-at-top
  import importlib  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from recbole.config import Config  # pylint: disable=g-import-not-at-top
  from recbole.data import create_dataset, data_preparation  # pylint: disable=g-import-not-at-top
  from recbole.trainer import Trainer  # pylint: disable=g-import-not-at-top
  from recbole.utils import init_logger, init_seed  # pylint: disable=g-import-not-at-top
  # RecBole 1.2.1 saves its best epoch with pickled objects, which torch >= 2.6 refuses to load
  # by default.
  torch.load = functools.partial(torch.load, weights_only=False)
  pair = PAIRS[name]
  model_class = getattr(importlib.import_module(f'recbole.model.{pair.package}'), pair.recbole)
  # Importing RecBole's sequential models turns on autograd's anomaly detection for the whole
  # process (`recbole/model/sequential_recommender/sine.py`), which slows every backward pass
  # many times over; RecBole is timed without it.
  torch.autograd.set_detect_anomaly(False)
  sequential = pair.package == 'sequential_recommender'
  config = Config(model=pair.recbole, dataset=DATASET, config_dict={
      'data_path': data_path, 'checkpoint_dir': os.path.join(out, 'saved'),
      'load_col': {'inter': ['user_id', 'item_id', 'timestamp']},
      'user_inter_num_interval': '[0,inf)', 'item_inter_num_interval': '[0,inf)',
      'eval_args': {'split': {'LS': 'valid_and_test'}, 'order': 'TO', 'mode': 'full',
                    'group_by': 'user'},
      'metrics': ['Recall', 'NDCG'], 'topk': [10, 20], 'valid_metric': 'NDCG@10',
      'epochs': epochs, 'stopping_step': 10,
      # A full-sort batch counts users for sequential models, (user, item) pairs for the others:
      # 256 users a batch either way.
      'eval_batch_size': 256 if sequential else 256 * 20_000,
      'use_gpu': False, 'show_progress': False, 'seed': 2020, **pair.settings})
  init_seed(config['seed'], config['reproducibility'])
  init_logger(config)  # per-epoch train and validation seconds, in log/ of the working folder
  dataset = create_dataset(config)
  train, valid, test = data_preparation(config, dataset)
  trainer = Trainer(config, model_class(config, train.dataset).to(config['device']))
  history, start = [], time.time()
  trainer.fit(train, valid, saved=True, show_progress=False, callback_fn=lambda epoch, score:
              history.append({'epoch': epoch + 1, 'elapsed_seconds': time.time() - start,
                              'NDCG@10': float(score)}))
  test_result = trainer.evaluate(test, load_best_model=True, show_progress=False)
  with open(os.path.join(out, 'recbole.json'), 'w', encoding='utf-8') as f:
    json.dump({'valid': _named(trainer.best_valid_result), 'test': _named(test_result),
               'history': history, 'users': dataset.user_num - 1,
               'items': dataset.item_num - 1, 'interactions': len(dataset.inter_feat)}, f)


def _named(recbole_metrics) -> dict:
  """RecBole's 'recall@10' (HR with one target) and 'ndcg@10' as jaxlens names them."""
  return {k.replace('recall', 'HR').replace('ndcg', 'NDCG'): float(v)
          for k, v in dict(recbole_metrics).items()}


def run_in_venv(name: str, data, recbole_python: str, epochs: int, workdir: str) -> dict:
  """RecBole's `recbole.json` for model `name` under `workdir`: read back, or made by training
  in the RecBole venv (`recbole_python`) on `data` (an `Interactions`), with its logs there."""
  out = os.path.join(os.path.abspath(workdir), 'recbole')
  path = os.path.join(out, 'recbole.json')
  if not os.path.exists(path):
    write_inter(data, os.path.join(out, DATASET))
    load = os.getloadavg()[0]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([os.path.abspath(recbole_python), '-m', 'benchmarks.recbole_runs', name,
                    '--out', out, '--epochs', str(epochs)],
                   check=True, cwd=out,  # RecBole writes its logs to the working folder
                   env={**os.environ, 'PYTHONPATH': repo})
    print(f'RecBole {PAIRS[name].recbole} ran with load average {load:.2f} at its start, '
          f'{os.getloadavg()[0]:.2f} at its end', flush=True)
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def first_reaching(history, threshold: float):
  """Seconds at the first validation whose NDCG@10 reaches `threshold` (jaxlens' history
  entries hold it under 'valid', RecBole's at the top level); None if none does."""
  return next((h['elapsed_seconds'] for h in history
               if h.get('valid', h).get('NDCG@10', 0.0) >= threshold), None)


@dataclasses.dataclass(frozen=True)
class Row:
  name: str
  valid: dict
  test: dict
  epochs: int
  seconds_per_epoch: float  # training and validation
  reached: float | None  # seconds to the model's RecBole best valid NDCG@10


def rows_of(name: str, recbole: dict, ours: dict) -> tuple[Row, Row, float]:
  """The RecBole row, the jaxlens row, and RecBole's best valid NDCG@10 they are timed to."""
  best = max(h['NDCG@10'] for h in recbole['history'])
  history = recbole['history']
  epochs = history[-1]['epoch']  # validations may skip epochs (`eval_step`)
  theirs = Row(f'RecBole {PAIRS[name].recbole}', recbole['valid'], recbole['test'],
               epochs, history[-1]['elapsed_seconds'] / epochs, first_reaching(history, best))
  mine = Row(f'jaxlens {PAIRS[name].config}:cpu', ours['valid'], ours['test'],
             len(ours['history']), ours['epoch_seconds'] + ours['eval_seconds'],
             first_reaching(ours['history'], best))
  return theirs, mine, best


def print_table(rows: list[tuple[Row, Row, float]]) -> None:
  """One markdown table, a RecBole row then a jaxlens row per model, with the two targets."""
  print('| run | valid HR@10 | valid NDCG@10 | test HR@10 | test NDCG@10 | epochs | s/epoch | '
        "s to RecBole's best valid NDCG@10 | test NDCG@10 vs RecBole | sooner |")
  print('|' + '---|' * 10)
  for theirs, mine, best in rows:
    for row in (theirs, mine):
      is_ours = row is mine
      gain = f'{mine.test["NDCG@10"] / theirs.test["NDCG@10"] - 1:+.0%}' if is_ours else ''
      sooner = (f'{theirs.reached / mine.reached:.1f}x' if is_ours and mine.reached
                else 'never' if is_ours else '')
      reached = 'never' if row.reached is None else f'{row.reached:.0f}'
      print(f'| {row.name} | {row.valid["HR@10"]:.4f} | {row.valid["NDCG@10"]:.4f} | '
            f'{row.test["HR@10"]:.4f} | {row.test["NDCG@10"]:.4f} | {row.epochs} | '
            f'{row.seconds_per_epoch:.1f} | {reached} (>= {best:.4f}) | {gain} | {sooner} |')


def main():
  parser = argparse.ArgumentParser(description='one RecBole run, inside the RecBole venv')
  parser.add_argument('model', choices=sorted(PAIRS))
  parser.add_argument('--out', required=True, help='holds the atomic file; gets recbole.json')
  parser.add_argument('--epochs', type=int, required=True)
  args = parser.parse_args()
  _train_and_test(args.model, args.out, args.epochs, args.out)


if __name__ == '__main__':
  main()
