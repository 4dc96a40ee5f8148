r"""GRCN_ID, the paper's VIDRec GRCN row on IDs alone (Wei et al. 2020).

The reference only links to MMRec (`Code/VIDRec/GRCN/Model Link.txt`), so the setting is
MMRec's GRCN (embedding size 64 for the ID and the content parts, 2 weighted layers over the ID
graph, 3 routing steps) trained with the recipe of `configs/mmgcn_id.py` (the reference's
DSSM_ID+V recipe). `_ID` feeds the content attention learned item vectors (the `id` item tower)
where `_ID+V` feeds it the projected frozen features (`configs/grcn_id_v.py`). `:cpu` is the
laptop run of the 50K benchmark, `:toy` the toy subset.

  jaxlens train --config grcn_id --workdir runs/grcn_id
  jaxlens train --config grcn_id:toy --workdir runs/grcn_id_toy
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.load('mmgcn_id')
  config.model.user_tower = 'grcn'
  config.model.grcn.update(layers=2, routing_iterations=3)
  return default_config.variant(config, arg, cpu=default_config.cf_cpu_variant,
                                toy=default_config.toy_scale)
