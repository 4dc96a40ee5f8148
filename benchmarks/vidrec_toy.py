"""VIDRec on the toy subset: frozen video features against IDs, overall and on cold items.

  python -m benchmarks.vidrec_toy [--root runs/vidrec_toy] [--epochs 8]

1. Extracts the toy clips' features (4x32x32, as the toy VideoRec run sees them) with a frozen,
   randomly initialised tiny_c3d: tiny_c3d has no pretrained weights, and a random convolutional
   network still maps colour, shape and motion (which the toy categories set) to distinct
   features. The 1-nearest-neighbour category accuracy of the standardised features measures
   how much content they carry (chance: 1/8).
2. Trains SASRec and YouTube-DNN with the `id`, `id+features` and `features` item towers
   (`configs/*_id_v.py:toy`), DSSM_ID against DSSM_ID+V (VBPR, `configs/dssm_id_v.py:toy`), and
   MMGCN and GRCN `_ID` against `_ID+V` (`configs/{mmgcn,grcn}_id{,_v}.py:toy`) and `_V`
   (`_ID+V` with `model.<tower>.item_ids=False`: no item ID vectors), each also as published
   (their configs' cold-start additions off: MMGCN's `model.mmgcn.item_dropout` 0.3, GRCN's
   item dropout 0.3 and `model.grcn.unit_item_vectors`), and prints
   test HR@10 / NDCG@10 overall, on users whose target is cold (never in training) and on the
   rest, with the content models' gain over their ID twins.
Runs are resumable folders under --root (a finished one is read back, not rerun).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from jaxlens import default_config
from jaxlens.data import item_features, tfds_source
from jaxlens.builders import subset, toy
from jaxlens.extract import encoder_features
from jaxlens.models.item_towers.features import standardised
from benchmarks.videorec_common import print_table, results_of

TOWERS = {'id': 'ID', 'id+features': 'ID+V', 'features': 'V'}
# Per model: (label, config, item tower or None for the config's own[, graph item IDs[, the
# cold-start additions on]]), its ID twin first.
MODELS = {
    'SASRec': [(label, 'sasrec_id_v:toy', tower) for tower, label in TOWERS.items()],
    'YouTube': [(label, 'youtube_id_v:toy', tower) for tower, label in TOWERS.items()],
    'DSSM': [('ID', 'dssm_id_v:toy', 'id'), ('ID+V', 'dssm_id_v:toy', None)],
    **{name: [('ID', f'{config}_id:toy', None), ('ID+V', f'{config}_id_v:toy', None),
              ('V', f'{config}_id_v:toy', None, False),
              ('ID+V, as published', f'{config}_id_v:toy', None, True, False),
              ('V, as published', f'{config}_id_v:toy', None, False, False)]
       for name, config in (('MMGCN', 'mmgcn'), ('GRCN', 'grcn'))},
}


def extract_toy_features(directory: str, data_dir: str | None) -> np.ndarray:
  """Writes the table (if absent) and returns the 1-NN category accuracy of its vectors."""
  frames = tfds_source.ItemFrames('microlens/toy', data_dir, num_frames=4, size=(32, 32))
  settings = encoder_features.EncoderSettings('tiny_c3d', 'random', num_frames=4, frame_size=32)
  encoder_features.extract(frames, frames.item_ids, settings, directory, modality='video',
                           source='microlens/toy', chunk=64)
  note = item_features.read_note(directory)
  vectors = standardised(np.load(os.path.join(directory, item_features.TABLE_FILE)))
  vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
  similarity = vectors @ vectors.T
  np.fill_diagonal(similarity, -np.inf)
  categories = toy.item_categories(toy.ToySpec())[np.asarray(note['item_ids'])]
  return float(np.mean(categories[similarity.argmax(axis=1)] == categories))


def run(spec: str, tower: str | None, features: str, args, item_ids: bool = True,
        cold_start: bool = True) -> dict:
  config = default_config.load(spec)
  if tower is not None:
    config.model.item_tower = tower
  graph = config.model.get(config.model.user_tower, {})  # MMGCN's and GRCN's item options
  if not item_ids:
    graph.item_ids = False
  if not cold_start:
    graph.item_dropout = 0.0
    if 'unit_item_vectors' in graph:
      graph.unit_item_vectors = False
  if config.model.item_tower == 'id':  # an ID twin: no table, VBPR's halves summed back
    config.model.features.update(path='', combine='sum')
  else:
    config.model.features.path = features
  config.data.dir = args.data_dir or ''
  config.train.epochs = args.epochs
  name = f'{config.model.user_tower}-{config.model.item_tower}'  # e.g. sasrec-id+features
  name += '' if item_ids else '-no_item_ids'  # a graph `_V`
  rate = graph.get('item_dropout', 0.0)
  name += f'-item_dropout{rate}' if rate else ''
  name += '-unit_items' if graph.get('unit_item_vectors') else ''
  return results_of(config, os.path.join(args.root, name))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--root', default='runs/vidrec_toy')
  parser.add_argument('--data_dir', default=None, help='TFDS data dir (the toy subset builds)')
  parser.add_argument('--epochs', type=int, default=8)
  args = parser.parse_args()
  subset.ensure_built('microlens/toy', args.data_dir)
  features = os.path.join(args.root, 'features-tiny_c3d')
  accuracy = extract_toy_features(features, args.data_dir)
  print(f'features: 1-NN category accuracy {accuracy:.3f} (chance 0.125)')
  rows = []
  for name, variants in MODELS.items():
    results = {label: run(spec, tower, features, args, *rest)
               for label, spec, tower, *rest in variants}
    cold_id = results['ID']['breakdowns']['cold']['HR@10']
    for label, result in results.items():
      test, breakdowns = result['test'], result['breakdowns']
      cold, warm = breakdowns['cold'], breakdowns['warm']
      rows.append([f'{name}_{label}', f"{test['HR@10']:.4f}", f"{test['NDCG@10']:.4f}",
                   f"{cold['HR@10']:.4f}", f"{cold['NDCG@10']:.4f}",
                   '–' if label == 'ID' else f"{cold['HR@10'] - cold_id:+.4f}",
                   f"{warm['HR@10']:.4f}", cold['users'], result['best_epoch']])
  print_table(['model', 'test HR@10', 'test NDCG@10', 'cold HR@10', 'cold NDCG@10',
               'cold HR@10 - ID twin', 'warm HR@10', 'cold users', 'best epoch'], rows)


if __name__ == '__main__':
  main()
