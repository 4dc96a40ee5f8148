r"""DeepFM, the paper's "IDRec (CF)" row: an FM and a deep part over history and candidate.

The reference's IDRec setting on MicroLens-100K (`Code/IDRec/process_data.ipynb`,
`Code/IDRec/DeepFM/deepfm.yaml`): fields = the user's 10 other training items and the candidate;
FM plus Linear(11 D -> D, no bias), ReLU, Linear(D, 1); D=1024, one row per training interaction,
batch 64, in-batch softmax with logQ, AdamW lr 1e-4 without weight decay or clipping, 120
epochs, early stopping after 5 validations without a better valid NDCG@10. `:cpu` is the
laptop-sized run of the 50K benchmark (D=64, lr 1e-3).

  jaxlens train --config deepfm --workdir runs/deepfm
  jaxlens train --config deepfm:cpu --workdir runs/deepfm_cpu \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.base()
  config.data.update(name='microlens/100k', max_seq_len=10, min_seq_len=5)
  config.model.update(user_tower='deepfm', item_tower='id', hidden=1024)
  config.loss.update(name='in_batch')
  config.optim.update(lr=1e-4, weight_decay=0.0, clip_norm=0.0, schedule='constant')
  config.train.update(batch_size=64, epochs=120, patience=5)
  # Full ranking holds a (users, items, D) hidden layer per batch: 64 users (the reference: 20).
  config.eval.update(select_metric='NDCG@10', batch_size=64)
  return default_config.variant(config, arg, cpu=default_config.cf_cpu_variant)
