r"""MMGCN_ID+V, the paper's VIDRec MMGCN row: the graph over frozen video features.

`configs/mmgcn_id.py` with the `features` item tower: the modality the graph propagates is
`W f_i`, `f_i` the item's frozen VideoMAE-B feature (docs/vidrec.md), `W` a bias-free projection
at `optim.content_lr` (1e-4, the reference VBPR's projection lr); the ID part is MMGCN's own
learned ID vectors, which every layer adds (so not `id+features`, which would add a second ID
embedding). Unlike the paper, each training step leaves 30% of the items out of the graph
(`model.mmgcn.item_dropout`): without it an item never seen in training, which has no edges,
never reaches a top 10 (docs/fidelity.md); 0 is the published model. `:cpu` is the laptop run of
the 50K benchmark (the projection at the recommender's lr), `:toy` the toy subset's random
tiny_c3d features.

  jaxlens train --config mmgcn_id_v --workdir runs/mmgcn_id_v
  jaxlens train --config mmgcn_id_v:toy --workdir runs/mmgcn_id_v_toy
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.graph_features(default_config.load('mmgcn_id'))
  config.model.mmgcn.item_dropout = 0.3
  return default_config.variant(config, arg, cpu=default_config.cf_features_cpu_variant,
                                toy=default_config.features_toy_variant)
