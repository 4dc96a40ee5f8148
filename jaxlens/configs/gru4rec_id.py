r"""GRU4Rec-ID, the paper's "IDRec (SR)" row: ID item embeddings, in-batch softmax with logQ.

The setting the reference's `Code/VideoRec/SASRec/run_id.py` launches on MicroLens-100K (it
ships none for GRU4Rec); `:cpu` is the laptop-sized run of the 50K benchmark (D=64, lr 4e-3,
RecBole's dense layer after the GRU, early stopping: docs/benchmarks.md says why).

  jaxlens train --config gru4rec_id --workdir runs/gru4rec_id
  jaxlens train --config gru4rec_id:cpu --workdir runs/gru4rec_id_cpu \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.base()
  config.data.update(name='microlens/100k', max_seq_len=10, min_seq_len=5)
  config.model.update(user_tower='gru4rec', item_tower='id', hidden=1024, dropout=0.1)
  config.loss.update(name='in_batch')
  config.optim.update(lr=1e-4, weight_decay=0.1, schedule='constant')
  config.train.update(batch_size=512, epochs=50)
  config.eval.update(select_metric='NDCG@10')
  return default_config.variant(config, arg, cpu=_cpu)


def _cpu(config):
  """`default_config.cpu_variant` at 4x its lr, with RecBole's dense layer after the GRU.

  One row per user makes 196 optimizer steps an epoch on MicroLens-50K (batch 256), a quarter
  of RecBole's one row per prefix, and a GRU fed embeddings of std 0.01 starts with a query near
  0: at lr 1e-3 and without the dense layer it reached a third of RecBole's valid NDCG@10 by
  epoch 4 (docs/recbole.md)."""
  config = default_config.cpu_variant(config)
  config.optim.lr = 4e-3
  config.model.gru4rec.dense = True
  return config
