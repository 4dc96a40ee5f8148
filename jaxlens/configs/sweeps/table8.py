r"""Table 8: regular and warm settings (Warm-N: items with fewer than N interactions removed).

  jaxlens sweep table8 --root runs/table8
  jaxlens sweep table8:50k --root runs/table8_50k

Paper: SASRec-ID (the paper's IDRec defaults) against SASRec_V (SlowFast-r50 topT from its
Kinetics weights) on MicroLens-100K, warm-0 (regular), 20, 50 and 200.
`:50k`: SASRec-ID alone on the real MicroLens-50K pairs file (`$MICROLENS_DATA_DIR`), the CPU
variant of the ID config; no frames needed. Its epochs are capped at 40 (the config's 50, with
early stopping) so the four cells fit in about 40 minutes on 2 CPU cores: warm-0 may still be
improving at its last epoch.
"""

import os

from jaxlens.sweep import Cell, Sweep

WARM = (0, 20, 50, 200)
EPOCHS_50K = 40  # CPU minutes, not the paper's schedule
VIDEO = {'model.encoder.name': 'slowfast_r50', 'model.encoder.train_mode': 'topT',
         'model.encoder.init_from': 'weights/slowfast_r50'}


def warm_cells(prefix, overrides=None, config='') -> list[Cell]:
  return [Cell(f'{prefix}-warm{n}', {**(overrides or {}), 'data.min_item_interactions': n},
               config=config) for n in WARM]


def get_sweep(arg=None):
  if arg == '50k':
    data_dir = os.environ.get('MICROLENS_DATA_DIR')
    if not data_dir:
      raise ValueError('MICROLENS_DATA_DIR is unset: point it at the folder holding '
                       'microlens-50k/MicroLens-50k_pairs.tsv')
    pairs = os.path.join(data_dir, 'microlens-50k', 'MicroLens-50k_pairs.tsv')
    return Sweep(config='sasrec_id:cpu',
                 overrides={'data.pairs_path': pairs, 'train.epochs': EPOCHS_50K},
                 cells=warm_cells('sasrec_id'))
  if arg:
    raise ValueError(f'unknown sweep argument {arg!r}; known: 50k')
  return Sweep(config='sasrec_v',
               cells=warm_cells('sasrec_id', config='sasrec_id') +
               warm_cells('sasrec_v', VIDEO))
