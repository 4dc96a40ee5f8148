"""Title features on real MicroLens-50K: SASRec, YouTube-DNN and DSSM, _ID against _ID+T (and _T).

  python -m benchmarks.vidrec_titles_50k [--root runs/vidrec_50k] [--epochs 12]

Needs `$MICROLENS_DATA_DIR` (the real files). Writes the title table once (`python -m
jaxlens.extract --modality title`: TF-IDF + SVD of `MicroLens-50k_titles.csv`, plus category
one-hot columns from `tags_to_summary.csv`), then trains each model's ID config and its feature
config (`sasrec_id` / `sasrec_id_v`, `youtube_id` / `youtube_id_v`, `dssm` / `dssm_id_v`, the
last VBPR, which has no `_T`) at `:cpu` with the title table on `MicroLens-50k_pairs.tsv`, capped at
--epochs (early stopping stays on). Prints test HR@10 / NDCG@10 overall, on cold targets (never
in training) and on rare ones (fewer than 10 training interactions), with the gain over the ID
twin. Runs are resumable folders under --root.
"""

from __future__ import annotations

import argparse
import os

from benchmarks import microlens_50k
from benchmarks.videorec_common import print_table, results_of
from jaxlens import default_config
from jaxlens.data import item_features
from jaxlens.extract import title_features

# name -> (label, ID config, feature config, the feature config's item towers)
MODELS = {'sasrec': ('SASRec', 'sasrec_id', 'sasrec_id_v', ('id+features', 'features')),
          'youtube': ('YouTube', 'youtube_id', 'youtube_id_v', ('id+features', 'features')),
          'dssm': ('DSSM', 'dssm', 'dssm_id_v', ('id+features',))}
TOWERS = {'id': 'ID', 'id+features': 'ID+T', 'features': 'T'}
RARE_BELOW = 10  # training interactions of the target


def _rare(breakdowns: dict) -> dict:
  """HR@10 / NDCG@10 over the popularity groups of warm targets with < RARE_BELOW interactions,
  weighted by users."""
  groups = [g for g in breakdowns['popularity'] if g['low'] >= 1 and g['high'] is not None
            and g['high'] <= RARE_BELOW and g['users']]
  users = sum(g['users'] for g in groups)
  mean = lambda key: sum(g[key] * g['users'] for g in groups) / max(users, 1)
  return {'users': users, 'HR@10': mean('HR@10'), 'NDCG@10': mean('NDCG@10')}


def run(model: str, tower: str, args, pairs: str, features: str) -> dict:
  _, id_config, features_config, _ = MODELS[model]
  config = default_config.load(f'{id_config if tower == "id" else features_config}:cpu')
  if tower != 'id':
    config.model.item_tower = tower
    config.model.features.update(path=features, modality='title')
  config.data.pairs_path = pairs
  config.train.epochs = args.epochs
  return results_of(config, os.path.join(args.root, f'{model}-{tower}'))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--root', default='runs/vidrec_50k')
  parser.add_argument('--epochs', type=int, default=12)
  parser.add_argument('--models', default='sasrec,youtube,dssm')
  parser.add_argument('--towers', default='id,id+features,features')
  args = parser.parse_args()
  data = os.environ.get('MICROLENS_DATA_DIR', '')
  pairs = microlens_50k.pairs_path(data)
  features = os.path.join(args.root, 'features-title')
  if not item_features.is_complete(features):
    title_features.extract(os.path.join(data, 'microlens-50k', 'MicroLens-50k_titles.csv'),
                           features, categories_path=os.path.join(
                               data, 'microlens-100k-items', 'tags_to_summary.csv'))
  note = item_features.read_note(features)
  print(f"title table: {note['count']:,} items x {note['dim']} "
        f"(SVD explains {note['svd_explained_variance']:.3f} of the TF-IDF variance)")
  rows = []
  for model in args.models.split(','):
    groups = {}
    towers = ('id',) + MODELS[model][3]
    for tower in [t for t in args.towers.split(',') if t in towers]:
      result = run(model, tower, args, pairs, features)
      groups[tower] = {'test': result['test'], 'cold': result['breakdowns']['cold'],
                       'rare': _rare(result['breakdowns']), 'best_epoch': result['best_epoch'],
                       'epoch_seconds': result['epoch_seconds']}
    for tower, group in groups.items():
      gain = lambda name, key: ('–' if tower == 'id' or 'id' not in groups else
                                f"{group[name][key] - groups['id'][name][key]:+.4f}")
      rows.append([f'{MODELS[model][0]}_{TOWERS[tower]}', f"{group['test']['HR@10']:.4f}",
                   f"{group['test']['NDCG@10']:.4f}", gain('test', 'NDCG@10'),
                   f"{group['cold']['HR@10']:.4f} ({group['cold']['users']:,})",
                   gain('cold', 'HR@10'),
                   f"{group['rare']['HR@10']:.4f} ({group['rare']['users']:,})",
                   gain('rare', 'HR@10'), group['best_epoch'], f"{group['epoch_seconds']:.0f}"])
  print_table(['model', 'test HR@10', 'test NDCG@10', 'NDCG@10 - ID', 'cold HR@10 (users)',
               'cold - ID', f'rare (<{RARE_BELOW}) HR@10 (users)', 'rare - ID', 'best epoch',
               's/epoch'], rows)


if __name__ == '__main__':
  main()
