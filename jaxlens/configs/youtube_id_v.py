r"""YouTube_ID+V, the paper's VIDRec row: YouTube-DNN over ID embeddings plus frozen video features.

`configs/youtube_id.py` with the `id+features` item tower: item i is `e_i + W f_i`, `f_i` the
item's frozen VideoMAE-B feature (mean of the last hidden states, 768-d, 5x224x224, fp32, as the
paper's released features), `W` a bias-free projection trained at `optim.content_lr` (1e-4, the
reference VBPR's projection lr). The reference has no code for this row. The table comes from
`jaxlens extract` (docs/vidrec.md); `_V` alone (no ID embedding, the cold-start model) is
`--config.model.item_tower=features`.

  jaxlens extract --modality video --data microlens/100k --encoder videomae_b \
      --init_from weights/videomae_b --out features/100k-videomae_b
  jaxlens train --config youtube_id_v --workdir runs/youtube_id_v
  # `:toy`: the toy clips' features from a frozen, randomly initialised tiny_c3d
  jaxlens extract --modality video --data microlens/toy --encoder tiny_c3d \
      --init_from random --num_frames 4 --frame_size 32 --out features/toy-tiny_c3d
  jaxlens train --config youtube_id_v:toy --workdir runs/youtube_id_v_toy
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.with_features(default_config.load('youtube_id'))
  return default_config.variant(config, arg, cpu=default_config.features_cpu_variant,
                                toy=default_config.features_toy_variant)
