r"""YouTube_ID, the paper's VIDRec YouTube row on ID embeddings alone (Covington et al. 2016).

The reference has no YouTube code or setting (its `Code/VIDRec` holds DSSM alone), so this is
SASRec-ID's recipe (the reference's `Code/VideoRec/SASRec/run_id.py`: D=1024, batch 512, lr
1e-4, weight decay 0.1, in-batch softmax with logQ, 50 epochs; best epoch by valid NDCG@10) with
the YouTube user tower: the two models differ in nothing else. Its MLP has
`model.youtube.layers`=2 ReLU layers of width D (the paper's towers narrow, 1024-512-256). `:cpu`
is the laptop run of the 50K benchmark, `:toy` the synthetic toy subset.

  jaxlens train --config youtube_id:cpu --workdir runs/youtube_id_50k \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
  jaxlens train --config youtube_id:toy --workdir runs/youtube_id_toy
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.load('sasrec_id')
  config.model.user_tower = 'youtube'
  return default_config.variant(config, arg, cpu=default_config.cpu_variant,
                                toy=default_config.toy_scale)
