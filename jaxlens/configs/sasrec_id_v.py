r"""SASRec_ID+V, the paper's VIDRec row: SASRec over ID embeddings plus frozen video features.

`configs/sasrec_id.py` (the reference's `Code/VideoRec/SASRec/run_id.py`) with the
`id+features` item tower: item i is `e_i + W f_i`, `f_i` the item's frozen VideoMAE-B feature
(mean of the last hidden states, 768-d, 5x224x224, fp32, as the paper's released features), `W` a
bias-free projection trained at `optim.content_lr` (1e-4, the projection lr of the reference's
VBPR, `Code/VIDRec/DSSM/vbpr.yaml`). The reference has no code for this row. The table comes
from `jaxlens extract` (docs/vidrec.md); `_V` alone (no ID embedding, the cold-start model) is
`--config.model.item_tower=features`.

  jaxlens train --config sasrec_id_v --workdir runs/sasrec_id_v
  jaxlens train --config sasrec_id_v:toy --workdir runs/sasrec_id_v_toy
  # titles instead (SASRec_ID+T), on the 50K pairs file:
  jaxlens train --config sasrec_id_v:cpu --workdir runs/sasrec_id_t_50k \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv \
      --config.model.features.path=features/50k-title --config.model.features.modality=title
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.with_features(default_config.load('sasrec_id'))
  return default_config.variant(config, arg, cpu=default_config.features_cpu_variant,
                                toy=default_config.features_toy_variant)
