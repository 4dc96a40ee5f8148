r"""GRU4Rec-ID, the paper's "IDRec (SR)" row: ID item embeddings, in-batch softmax with logQ.

The setting the reference's `Code/VideoRec/SASRec/run_id.py` launches on MicroLens-100K (it
ships none for GRU4Rec); `:cpu` is the laptop-sized run of the 50K benchmark (D=64, lr 1e-3,
early stopping).

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
  return default_config.variant(config, arg, cpu=default_config.cpu_variant)
