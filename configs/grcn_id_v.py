r"""GRCN_ID+V, the paper's VIDRec GRCN row: content attention from frozen video features.

`configs/grcn_id.py` with the `features` item tower: the content the attention and the content
vectors come from is `W f_i`, `f_i` the item's frozen VideoMAE-B feature (README, "Frozen
features (VIDRec)"), `W` a bias-free projection at `optim.content_lr` (1e-4); the ID part is
GRCN's own ID graph. `:cpu` is the laptop run of the 50K benchmark (the projection at the
recommender's lr), `:toy` the toy subset's random tiny_c3d features.

  python -m jaxlens.main --config configs/grcn_id_v.py --workdir runs/grcn_id_v
  python -m jaxlens.main --config configs/grcn_id_v.py:toy --workdir runs/grcn_id_v_toy
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  return default_config.variant(default_config.graph_features(default_config.load('grcn_id')),
                                arg, cpu=default_config.cf_features_cpu_variant,
                                toy=default_config.features_toy_variant)
