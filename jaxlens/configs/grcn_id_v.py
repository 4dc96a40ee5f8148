r"""GRCN_ID+V, the paper's VIDRec GRCN row: content attention from frozen video features.

`configs/grcn_id.py` with the `features` item tower: the content the attention and the content
vectors come from is `W f_i`, `f_i` the item's frozen VideoMAE-B feature (docs/vidrec.md), `W` a
bias-free projection at `optim.content_lr` (1e-4); the ID part is GRCN's own ID graph. Unlike the
paper, each training step leaves 30% of the items out of the graph (`model.grcn.item_dropout`)
and item vectors have unit length (`model.grcn.unit_item_vectors`): without both, an item never
seen in training, which has no edges, never reaches a top 10 (docs/fidelity.md); turning both
off is the published model. `:cpu` is the laptop run of the 50K benchmark (the projection at the
recommender's lr), `:toy` the toy subset's random tiny_c3d features.

  jaxlens train --config grcn_id_v --workdir runs/grcn_id_v
  jaxlens train --config grcn_id_v:toy --workdir runs/grcn_id_v_toy
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.graph_features(default_config.load('grcn_id'))
  config.model.grcn.update(item_dropout=0.3, unit_item_vectors=True)
  return default_config.variant(config, arg, cpu=default_config.cf_features_cpu_variant,
                                toy=default_config.features_toy_variant)
