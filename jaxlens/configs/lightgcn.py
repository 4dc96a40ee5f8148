r"""LightGCN, the paper's "IDRec (CF)" row: user and item ID vectors propagated over the graph.

The reference's IDRec setting on MicroLens-100K (`Code/IDRec/process_data.ipynb`,
`Code/IDRec/LightGCN/lightgcn.yaml`): one propagation step over the normalised bipartite graph of
the training interactions (recomputed every step), D=512, one (user, item) training interaction
per row, batch 128, in-batch softmax with logQ, AdamW lr 1e-4 without weight decay or clipping,
100 epochs, early stopping after 10 validations without a better valid NDCG@10. `:cpu` is the
laptop-sized run of the 50K benchmark: D=64, batch 2048, lr 3e-3. A step propagates over the whole
graph whatever its batch, so an epoch costs its number of steps: the reference's 128 rows would
make one 16x longer, and batch 2048 (RecBole's) at lr 3e-3 covers in 117 steps what batch 1024
at lr 1e-3 did in 234, sooner (docs/recbole.md).

  jaxlens train --config lightgcn --workdir runs/lightgcn
  jaxlens train --config lightgcn:cpu --workdir runs/lightgcn_cpu \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.base()
  config.data.update(name='microlens/100k', max_seq_len=10, min_seq_len=5)
  config.model.update(user_tower='lightgcn', item_tower='id', hidden=512)
  config.model.lightgcn.layers = 1
  config.loss.update(name='in_batch')
  config.optim.update(lr=1e-4, weight_decay=0.0, clip_norm=0.0, schedule='constant')
  config.train.update(batch_size=128, epochs=100, patience=10)
  config.eval.update(select_metric='NDCG@10')
  return default_config.variant(config, arg, cpu=_cpu)


def _cpu(config):
  config = default_config.cf_cpu_variant(config)
  config.train.batch_size = 2048
  config.optim.lr = 3e-3
  return config
