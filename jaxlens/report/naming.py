"""What a run is in the paper's words: its model class and row name, its setting, its data set.

Everything is read from the run's config (config.json, nested); a key that is absent reads as
unknown rather than as a default, so an old or partial config is never named wrongly. Model
names come from the parts' registrations (a user tower's paper name and family, an item tower's
row suffix), so a new tower names its report rows itself.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from jaxlens.report import paper

IDREC_CF, IDREC_SR = 'IDRec (CF)', 'IDRec (SR)'
VIDREC, VIDEOREC = 'VIDRec (frozen encoder)', 'VideoRec (end to end)'
CLASSES = (IDREC_CF, IDREC_SR, VIDREC, VIDEOREC)  # the benchmark table's order

# The paper's class of a user tower's family (ID models) or of an item tower's row.
_CLASSES = {'cf': IDREC_CF, 'sr': IDREC_SR, 'vidrec': VIDREC, 'videorec': VIDEOREC}


def get(config: dict, dotted: str, default: Any = None) -> Any:
  """`config['model']['encoder']['name']` as `get(config, 'model.encoder.name')`."""
  node = config
  for key in dotted.split('.'):
    if not isinstance(node, dict) or key not in node:
      return default
    node = node[key]
  return node


def user_tower(config: dict) -> str | None:
  return get(config, 'model.user_tower')


def _spec(registry, name):
  return registry.get(name) if name in registry.names() else None


def model_row(config: dict) -> tuple[str, str] | None:
  """(class, row name) as in the paper's benchmark table, e.g. (VIDREC, 'SASRec_ID+V')."""
  from jaxlens.models import item_towers, user_towers  # pylint: disable=g-import-not-at-top
  user = _spec(user_towers.REGISTRY, user_tower(config))
  item = _spec(item_towers.REGISTRY, get(config, 'model.item_tower'))
  if user is None or item is None:
    return None
  row = item.paper_row(config)
  if row is not None:  # a content item tower names the class
    suffix, row_class = row
    return _CLASSES[row_class], f'{user.paper_name}_{suffix}'
  if user.family == 'vidrec':  # a VIDRec model on IDs alone
    return VIDREC, f'{user.paper_name}_ID'
  return _CLASSES[user.family], user.paper_name


@functools.cache
def encoder_label(name: str) -> str:
  """The paper's name for a registry encoder (`r2plus1d_r50` -> 'R3D-r50'), else the name."""
  import jaxlens.models.video  # pylint: disable=g-import-not-at-top,unused-import  # registers
  from jaxlens.models.video import registry  # pylint: disable=g-import-not-at-top
  if name not in registry.names():
    return name
  paper_name = registry.get(name).paper_name
  return paper_name if any(paper_name == encoder for encoder, _ in paper.table6()) else name


def setting(config: dict) -> str:
  """What distinguishes runs of one row: encoder, policy and initialisation; feature modality."""
  item = get(config, 'model.item_tower')
  if item == 'video':
    parts = [encoder_label(get(config, 'model.encoder.name', '?')),
             get(config, 'model.encoder.train_mode', '?')]
    if get(config, 'model.encoder.init_from') == 'random':
      parts.append('random init')
    if get(config, 'model.encoder.mlp_layers'):
      parts.append(f'+{get(config, "model.encoder.mlp_layers")} DNN layers')
    return ' '.join(parts)
  if item in ('features', 'id+features'):
    return f'{get(config, "model.features.modality", "video")} features'
  return ''


def clip(config: dict) -> str:
  """A video run's clips as frames x height x width (`4x32x32`); '' for other runs or when
  config.json does not say."""
  frames, size = get(config, 'data.num_frames'), get(config, 'data.frame_size')
  if get(config, 'model.item_tower') != 'video' or not frames or not size:
    return ''
  return f'{frames}x{size}x{size}'


def on_microlens(config: dict | None) -> bool:
  """Whether a run trained on MicroLens (a pairs file or `microlens/...`), not on a dataset of
  one's own (`custom/...`), whose numbers the paper's do not bear on."""
  return bool(config) and (bool(get(config, 'data.pairs_path')) or
                           not str(get(config, 'data.name', '')).startswith('custom/'))


def dataset(config: dict) -> str:
  """The data a run trained on: a pairs file's name or the built dataset, and warm-N."""
  pairs = get(config, 'data.pairs_path')
  name = os.path.basename(pairs) if pairs else get(config, 'data.name', '?')
  warm = get(config, 'data.min_item_interactions') or 0
  return f'{name} warm-{warm}' if warm else name


def dataset_with_size(config: dict, results: dict | None) -> str:
  counts = (results or {}).get('data')
  if not isinstance(counts, dict) or 'users' not in counts:
    return dataset(config)
  return f'{dataset(config)} ({counts["users"]:,} users, {counts.get("items", 0):,} items)'
