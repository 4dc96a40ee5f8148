r"""MMGCN_ID, the paper's VIDRec MMGCN row on IDs alone (Wei et al. 2019).

The reference only links to MMRec (`Code/VIDRec/MMGCN/Model Link.txt`), so the setting is
MMRec's MMGCN (embedding size 64, 3 layers of mean aggregation with ID vectors, concatenating
combination) trained with the reference's VIDRec DSSM_ID+V recipe (`configs/dssm_id_v.py`: one
(user, item) interaction per row, batch 1024, in-batch softmax with logQ, AdamW lr 1e-3 without
weight decay or clipping, 120 epochs, early stopping after 10 validations without a better valid
NDCG@10). `_ID` feeds the graph learned item vectors (the `id` item tower) where `_ID+V` feeds it
the projected frozen features (`configs/mmgcn_id_v.py`). `:cpu` is the laptop run of the 50K
benchmark, `:toy` the toy subset.

  jaxlens train --config mmgcn_id --workdir runs/mmgcn_id
  jaxlens train --config mmgcn_id:toy --workdir runs/mmgcn_id_toy
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  return default_config.variant(graph_config('mmgcn', layers=3), arg,
                                cpu=default_config.cf_cpu_variant, toy=default_config.toy_scale)


def graph_config(user_tower: str, layers: int):
  """The VIDRec graph towers' shared recipe (MMGCN, GRCN)."""
  config = default_config.base()
  config.data.update(name='microlens/100k', max_seq_len=10, min_seq_len=5)
  config.model.update(user_tower=user_tower, item_tower='id', hidden=64)
  config.model[user_tower].layers = layers
  config.loss.update(name='in_batch')
  config.optim.update(lr=1e-3, weight_decay=0.0, clip_norm=0.0, schedule='constant',
                      content_lr=1e-4, content_weight_decay=0.0)
  config.train.update(batch_size=1024, epochs=120, patience=10)
  config.eval.update(select_metric='NDCG@10')
  return config
