"""What an item tower is, and the registry that picks one by name (`config.model.item_tower`).

An item tower turns item ids into `D`-dimensional vectors. Padding (id 0) always gives exact
zeros. Every tower is an `ItemTower`; its `ItemTowerSpec` tells the rest of jaxlens what the
tower can do, so that invalid combinations are refused before a run starts
(`jaxlens.train.configuration`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
from flax import nnx

from jaxlens.registry import Part, Registry


class ItemTower(nnx.Module):
  """The interface of item towers.

  - `embed(batch, fields)`: `{field: (*batch[field].shape, D)}` for id fields of a training or
    evaluation batch ('item_ids', and 'negative_ids' for losses that sample negatives). Towers
    with per-item inputs find them in the batch too (`ItemTowerSpec.batch_inputs`).
  - `table()`: `(vocab_size, D)`, every item at once (only towers with `has_table`).
  - `encode(inputs)`: `(N, D)` from per-item inputs of N items, for towers without a table,
    whose evaluation streams every item's inputs through it in chunks; towers with content
    also encode items added after training this way (`jaxlens embed_items`).
  - `is_trainable(path)`: the freezing policy over parameter paths relative to the tower.
  Parameters the optimizer treats as content (own learning rate, no weight decay) live under
  the attribute `content`. Fixed arrays a tower reads but never learns (a frozen feature table)
  are `DataArray` variables (`jaxlens.models.variables`).
  """

  num_items: int
  vocab_size: int  # rows of `table()`: padding 0, items 1..num_items, vocabulary padding

  def embed(self, batch: dict[str, jax.Array], fields: tuple[str, ...]) -> dict[str, jax.Array]:
    raise NotImplementedError

  def table(self) -> jax.Array:
    raise NotImplementedError

  def encode(self, inputs: jax.Array) -> jax.Array:
    raise NotImplementedError

  def is_trainable(self, path: tuple) -> bool:
    del path
    return True


@dataclasses.dataclass(frozen=True)
class ItemTowerSpec(Part):
  """An item tower's registration; its own config keys live under `config.model.<namespace>`
  (the video tower's under `model.encoder`, the feature towers' under `model.features`)."""

  # build(config, data: Interactions, *, layout: sharding.Layout, rngs, dtype) -> ItemTower, for
  # items 1..N whose dataset ids are `data.original_item_ids[1:]` (a feature table maps its rows
  # by them)
  build: Callable[..., ItemTower] = dataclasses.field(kw_only=True)
  # `table()` is cheap enough for every training step (full-softmax losses, graph propagation
  # need every item's vector each step); False for towers that encode content per batch.
  has_table: bool = dataclasses.field(kw_only=True)
  # How report rows name a model with this tower, from its config (nested dicts, as config.json):
  # (suffix after the user tower's paper name, e.g. 'ID+V' or 'V'; the paper's model class, or ''
  # when the user tower's family decides). `None`: the user tower's name alone.
  paper_row: Callable[[Any], tuple[str, str] | None] = dataclasses.field(
      default=lambda config: None, kw_only=True)
  # Per-item inputs the training pipeline puts into batches and evaluation streams ('clips').
  batch_inputs: str | None = dataclasses.field(default=None, kw_only=True)
  # Reads a frozen item-feature table (`config.model.features`, from `jaxlens extract`).
  reads_features: bool = dataclasses.field(default=False, kw_only=True)
  # paper_batch(config) -> the reference's global batch for this tower's setting, or None when
  # the user tower's decides (`train.batch_size=-1`).
  paper_batch: Callable[[Any], int | None] = dataclasses.field(default=lambda config: None,
                                                                kw_only=True)
  # start(tower, config): loads what a new run starts from (pretrained weights); never called
  # on resume.
  start: Callable[[ItemTower, Any], None] | None = dataclasses.field(default=None, kw_only=True)
  description: str = dataclasses.field(default='', kw_only=True)


REGISTRY: Registry[ItemTowerSpec] = Registry('item tower', 'config.model.item_tower', 'model')
