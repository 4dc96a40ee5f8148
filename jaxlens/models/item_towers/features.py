"""Item towers over a frozen item-feature table (the paper's VIDRec block; `_V`, `_ID+V`).

The table (`config.model.features.path`, from `jaxlens extract`) is read once, its rows
put in protocol order (row i = item i, row 0 and vocabulary padding zero) and standardised per
column over the dataset's items, then scaled by 1/sqrt(F): the projection's learning rate means
the same for video, cover or title features whatever their scale and width, and item vectors
start small, so the first logits are near zero as an ID model's (on the toy subset, unit-variance
columns started SASRec_ID+V at a loss of 16 against 6.4 and ended lower). It is a `DataArray`:
no gradient, no optimizer state, not checkpointed, sharded over items like the ID table (and
padded as it is).

- `features`: item i is `W f_i` with `W` a bias-free `Linear(F -> D)` (content: `optim.content_lr`,
  `optim.content_weight_decay`); items never seen in training get a vector from their content.
- `id+features`: item i is `e_i + W f_i`, the ID embedding plus the projected feature. A sum
  keeps the user tower's width D and makes `features` (no `e_i`) and `id` (no `W f_i`) the two
  special cases; the ID part trains with the recommender's lr and weight decay.
  `model.features.combine='concat'` makes it `[e_i | W f_i]`, D/2 wide each: VBPR (DSSM_ID+V,
  the reference's `Code/VIDRec/DSSM/REC/model/FreezeModel/vbpr.py`), whose user vector
  `[ID part | visual preference]` scores both halves.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlens import config_values
from jaxlens.data import item_features
from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.models import tables
from jaxlens.models.item_towers.base import REGISTRY, ItemTower, ItemTowerSpec
from jaxlens.models.item_towers.ids import IdTower
from jaxlens.models.variables import DataArray
from jaxlens.sharding import Layout


def standardisation(features: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
  """The map to zero mean and variance 1/F per column over `features` (constant columns become
  zero), rows of unit norm on average; applied to items added later, it is the same map."""
  std = features.std(axis=0) * np.sqrt(features.shape[1])
  mean, scale = features.mean(axis=0), np.where(std > 0, std, 1)
  return lambda rows: (rows - mean) / scale


def standardised(features: np.ndarray) -> np.ndarray:
  return standardisation(features)(features)


class FeatureTower(ItemTower):

  def __init__(self, features: np.ndarray, hidden: int, *, with_ids: bool, concat: bool = False,
               vocab_multiple: int = 1, rngs: nnx.Rngs, dtype=jnp.float32):
    """`features`: `(num_items, F)`, the vectors of items 1..N in order; `concat` (with ids):
    `[e_i | W f_i]`, `hidden // 2` wide each, instead of their sum."""
    self.concat = concat
    width = hidden // 2 if concat else hidden
    self.num_items = len(features)
    self.vocab_size = tables.padded_rows(self.num_items + 1, vocab_multiple)
    rows = np.zeros((self.vocab_size, features.shape[1]), np.float32)
    rows[1:self.num_items + 1] = features
    self.features = DataArray(jnp.asarray(rows), out_sharding=('items', None))
    self.content = nnx.Linear(features.shape[1], width, use_bias=False, dtype=dtype, rngs=rngs,
                              kernel_init=nnx.initializers.xavier_normal())
    self.ids = (IdTower(self.num_items, width, vocab_multiple=vocab_multiple, rngs=rngs,
                        dtype=dtype) if with_ids else None)

  def __call__(self, item_ids: jax.Array) -> jax.Array:
    """Vectors of the given ids; padding (0) has a zero feature row, so it gives exact zeros."""
    vectors = self.content(self.features[...][item_ids])
    if self.ids is None:
      return vectors
    if self.concat:
      return jnp.concatenate([self.ids(item_ids), vectors], axis=-1)
    return vectors + self.ids(item_ids)

  def embed(self, batch, fields):
    return {field: self(batch[field]) for field in fields}

  def table(self) -> jax.Array:
    return self(jnp.arange(self.vocab_size))

  def encode(self, features: jax.Array) -> jax.Array:
    """Items outside the table (added after training) from their standardised features
    `(N, F)`: the projected feature, and no ID vector (zeros), as a padding row has."""
    vectors = self.content(features)
    if self.ids is not None and self.concat:
      return jnp.concatenate([jnp.zeros_like(vectors), vectors], axis=-1)
    return vectors


def _builder(with_ids: bool):

  def build(config, data: Interactions, *, layout: Layout, rngs: nnx.Rngs,
            dtype) -> FeatureTower:
    features = item_features.load_rows(config.model.features.path,
                                       data.original_item_ids[1:])
    return FeatureTower(standardised(features), config.model.hidden, with_ids=with_ids,
                        concat=config.model.features.combine == 'concat',
                        vocab_multiple=layout.row_multiple('items'), rngs=rngs, dtype=dtype)

  return build


_MODALITIES = {'video': 'V', 'cover': 'C', 'title': 'T'}  # report rows: SASRec_ID+V, ..._T


def _check(with_ids: bool):

  def check(config) -> None:
    features = config.model.features
    config_values.choice(config, 'model.features.combine', ('sum', 'concat'))
    config_values.choice(config, 'model.features.modality', tuple(_MODALITIES))
    if features.combine == 'concat' and not with_ids:
      raise JaxlensError("config.model.features.combine='concat' joins an ID embedding and a "
                         f"feature: it needs the id+features item tower, not "
                         f'{config.model.item_tower!r}')
    if features.combine == 'concat' and config.model.hidden % 2:
      raise JaxlensError("config.model.features.combine='concat' splits model.hidden="
                         f'{config.model.hidden} in two halves: make it even')
    if not features.path:
      raise JaxlensError(f'config.model.item_tower={config.model.item_tower!r} needs '
                         'config.model.features.path: a folder written by jaxlens extract')
    note = item_features.read_note(features.path)
    if note.get('modality') != features.modality:
      raise JaxlensError(f'{features.path} holds {note.get("modality")} features, but '
                         f'config.model.features.modality={features.modality!r}')

  return check


def _paper_row(with_ids: bool):

  def paper_row(config) -> tuple[str, str]:
    modality = (config.get('model', {}).get('features', {}).get('modality', 'video'))
    suffix = _MODALITIES.get(modality, '?')
    return (f'ID+{suffix}' if with_ids else suffix), 'vidrec'

  return paper_row


_CONFIG = {
    'path': '',  # a folder written by `jaxlens extract`
    'modality': 'video',  # video | cover | title, as the table's note says
    # `id+features`: 'sum' e_i + W f_i (D wide each), or 'concat' [e_i | W f_i] (D/2 each:
    # VBPR, whose user vector, D wide, is then [ID part | visual preference]).
    'combine': 'sum',
    # sha256 of the table, filled in from its note when the config is resolved: a resumed run
    # refuses a table that changed (the table is not in checkpoints).
    'fingerprint': '',
}

for _name, _with_ids, _description in (
    ('features', False, 'a projected frozen feature per item (VIDRec _V)'),
    ('id+features', True, 'an ID embedding plus a projected frozen feature (VIDRec _ID+V)')):
  REGISTRY.register(ItemTowerSpec(
      _name, build=_builder(with_ids=_with_ids), has_table=True, reads_features=True,
      description=_description, paper_row=_paper_row(_with_ids), namespace='features',
      config=_CONFIG, check=_check(_with_ids), resumable=('path',)))
