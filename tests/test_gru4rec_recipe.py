"""GRU4Rec's `:cpu` recipe learns per epoch as RecBole 1.2.1's GRU4Rec does.

A fixed-seed run of `configs/gru4rec_id.py:cpu` on the first SLICE_USERS users of
MicroLens-50K must reach, after EPOCHS epochs, the valid NDCG@10 that RecBole's GRU4Rec reached
on the same users after as many epochs. The bound was measured with
`benchmarks.recbole_runs` (RecBole's settings `PAIRS['gru4rec']`: D=64, one GRU layer, a dense
layer, dropout 0.2, Adam lr 1e-3, batch 256 prefixes, cross-entropy over all items, seed 2020)
on the slice this test writes. The recipe this replaced (lr 1e-3 on one row per user, 4x fewer
optimizer steps per epoch than RecBole's one row per prefix) stays under it.
"""

import itertools
import os

import pytest

from jaxlens import default_config
from jaxlens.train import loop

SLICE_USERS = 5000  # the first lines of MicroLens-50k_pairs.tsv
EPOCHS = 10
# RecBole 1.2.1's GRU4Rec on the slice, valid NDCG@10 by epoch: 0.0020 0.0025 0.0026 0.0033
# 0.0038 0.0041 0.0050 0.0053 0.0052 0.0057. The recipe replaced ended at 0.0054, this one at
# 0.0063 (one user's hit at rank 1 adds 0.0002): a coarse guard, since most of the slice's
# valid targets are items it holds too few interactions of to learn.
RECBOLE_VALID_NDCG10 = 0.0057


def slice_config(data_dir: str, out: str):
  """`gru4rec_id:cpu` on the first SLICE_USERS users of the 50K file, written to `out`."""
  with open(os.path.join(data_dir, 'microlens-50k', 'MicroLens-50k_pairs.tsv'),
            encoding='utf-8') as f:
    lines = list(itertools.islice(f, SLICE_USERS))
  with open(out, 'w', encoding='utf-8') as f:
    f.writelines(lines)
  config = default_config.load('gru4rec_id:cpu')
  config.data.pairs_path = out
  config.train.epochs = EPOCHS
  config.eval.evaluators = ()
  return config


@pytest.mark.slow
def test_cpu_recipe_reaches_recbole_on_a_slice(microlens_data_dir, tmp_path):
  config = slice_config(microlens_data_dir, str(tmp_path / 'pairs.tsv'))
  results = loop.train_and_evaluate(config, str(tmp_path / 'run'))
  reached = results['history'][-1]['valid']['NDCG@10']  # after EPOCHS epochs, as RecBole's
  assert reached >= RECBOLE_VALID_NDCG10, (reached, RECBOLE_VALID_NDCG10)
