r"""DSSM, the paper's first "IDRec (CF)" row: a user ID vector against the item ID vector.

The reference's IDRec setting on MicroLens-100K (`Code/IDRec/process_data.ipynb`,
`Code/IDRec/DSSM/dssm.yaml`): empty tower MLPs (matrix factorisation), D=512, one (user, item)
training interaction per row, batch 1024, in-batch softmax with logQ, AdamW lr 1e-4 without
weight decay or clipping, 120 epochs, early stopping after 10 validations without a better valid
NDCG@10. `:cpu` is the laptop-sized run of the 50K benchmark (D=64, lr 1e-3).

  jaxlens train --config dssm --workdir runs/dssm
  jaxlens train --config dssm:cpu --workdir runs/dssm_cpu \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.base()
  config.data.update(name='microlens/100k', max_seq_len=10, min_seq_len=5)
  config.model.update(user_tower='dssm', item_tower='id', hidden=512, dropout=0.0)
  config.model.dssm.mlp = ()  # the reference's matrix factorisation
  config.loss.update(name='in_batch')
  config.optim.update(lr=1e-4, weight_decay=0.0, clip_norm=0.0, schedule='constant')
  config.train.update(batch_size=1024, epochs=120, patience=10)
  config.eval.update(select_metric='NDCG@10')
  return default_config.variant(config, arg, cpu=default_config.cf_cpu_variant)
