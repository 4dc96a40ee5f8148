"""Defaults every config file starts from: the paper's ID-based SR setting (reference 2.4).

Config files in `configs/` call `base()` and override what their model changes, so a key that
exists in one config exists in all and `--config.x.y=...` overrides are checked against it.
"""

from __future__ import annotations

import ml_collections


def base() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 42

  config.data = ml_collections.ConfigDict()
  config.data.name = 'microlens/100k'  # a TFDS dataset built with `tfds build` / jaxlens.data.build
  config.data.dir = ''  # TFDS data dir; '' = TFDS's default (~/tensorflow_datasets)
  config.data.pairs_path = ''  # a raw `*_pairs.tsv`/`.csv` file; overrides `name` when set
  config.data.max_seq_len = 10
  config.data.min_seq_len = 5

  config.model = ml_collections.ConfigDict()
  config.model.user_encoder = 'sasrec'  # sasrec | gru4rec | nextitnet
  config.model.item_tower = 'id'
  config.model.hidden = 1024
  config.model.num_blocks = 2  # SASRec blocks; GRU layers; NextItNet (1,2),(4,8) pairs
  config.model.num_heads = 2
  config.model.dropout = 0.1
  config.model.dtype = 'float32'  # compute dtype; parameters stay float32

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'in_batch'  # in_batch | full_softmax | bce
  config.loss.popularity_power = 1.0  # logQ correction of in_batch

  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 1e-4
  config.optim.weight_decay = 0.1  # decoupled (AdamW), recommender parameters only
  config.optim.clip_norm = 5.0
  config.optim.schedule = 'constant'  # constant | cosine
  config.optim.warmup_steps = 0

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 512  # global, over all devices and hosts
  config.train.epochs = 50
  config.train.patience = 0  # evaluations without improvement before stopping; 0 = never stop
  config.train.log_every_steps = 50

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 1024
  config.eval.ks = (10, 20)
  config.eval.select_metric = 'NDCG@10'  # picks the best checkpoint, drives early stopping
  config.eval.every_epochs = 1

  config.mesh = ml_collections.ConfigDict()
  config.mesh.data = -1  # -1: all devices not used by the other axes
  config.mesh.model = 1  # shards the item table over items
  # Logical axis -> mesh axis, the one place sharding is decided (MaxText-style).
  config.mesh.rules = (('batch', 'data'), ('items', 'model'), ('embed', None))
  return config


def cpu_variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A laptop-sized run (the benchmark's setting): small model, bigger lr, early stopping."""
  config.model.hidden = 64
  config.model.dropout = 0.2
  config.optim.lr = 1e-3
  config.train.batch_size = 256
  config.train.patience = 10
  return config


def id_config(user_encoder: str, arg: str | None, **model_overrides) -> ml_collections.ConfigDict:
  """An ID-based sequential recommender; `arg` picks a variant (`cpu`)."""
  config = base()
  config.model.user_encoder = user_encoder
  config.model.update(model_overrides)
  if arg == 'cpu':
    return cpu_variant(config)
  if arg:
    raise ValueError(f'unknown config argument {arg!r}; known: cpu')
  return config
