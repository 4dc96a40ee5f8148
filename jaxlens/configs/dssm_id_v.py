r"""DSSM_ID+V, the paper's VIDRec DSSM row: VBPR (He and McAuley 2016) over frozen video features.

The reference's `Code/VIDRec/DSSM` runs VBPR (`REC/model/FreezeModel/vbpr.py`, `vbpr.yaml`):
d = 512/2 = 256, the user vector `[user ID (256) | visual preference (256)]` (DSSM's user table,
512 wide), the item vector `[item ID (256) | W f_i (256)]` (the `id+features` tower with
`model.features.combine='concat'`, `W` a bias-free Linear(F -> 256)), one (user, item)
interaction per row, batch 1024, in-batch softmax with logQ, AdamW without weight decay or
clipping: the projection at lr 1e-4 (`optim.content_lr`), everything else at 1e-3; 120 epochs,
early stopping after 10 validations without a better valid NDCG@10. Unlike the reference, whose
`predict` adds an untrained `bias_projection` of the features, evaluation adds no random visual
bias (docs/fidelity.md). `:cpu` is the laptop run of the 50K benchmark (D=64, the projection at
1e-3 too), `:toy` the toy subset's random tiny_c3d features.

  jaxlens train --config dssm_id_v --workdir runs/dssm_id_v
  jaxlens train --config dssm_id_v:toy --workdir runs/dssm_id_v_toy
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.with_features(default_config.load('dssm'))
  config.model.features.combine = 'concat'
  config.optim.update(lr=1e-3, content_lr=1e-4, content_weight_decay=0.0)
  return default_config.variant(config, arg, cpu=default_config.cf_features_cpu_variant,
                                toy=default_config.features_toy_variant)
