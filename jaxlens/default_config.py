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
  # Video towers: the clips stored by the items builder, as the encoder sees them.
  config.data.num_frames = 5
  config.data.frame_size = 224
  config.data.clips_in_memory = False  # decode every item once up front (small catalogues)

  config.model = ml_collections.ConfigDict()
  config.model.user_encoder = 'sasrec'  # sasrec | gru4rec | nextitnet
  config.model.item_tower = 'id'
  config.model.hidden = 1024
  config.model.num_blocks = 2  # SASRec blocks; GRU layers; NextItNet (1,2),(4,8) pairs
  config.model.num_heads = 2
  config.model.dropout = 0.1
  config.model.dtype = 'float32'  # compute dtype; parameters stay float32
  config.model.encoder = ml_collections.ConfigDict()  # the video tower's encoder
  config.model.encoder.name = 'slowfast_r50'  # jaxlens.models.video.registry names
  config.model.encoder.output = 'features'  # features | head (the reference's 400 logits)
  config.model.encoder.train_mode = 'topT'  # frozen | topT | halfT | FT | scratch
  config.model.encoder.init_from = ''  # a folder written by `python -m jaxlens.convert`
  config.model.encoder.remat = False  # recompute each block in the backward pass
  # BatchNorm in frozen stages: 'batch' normalises with (global) batch statistics and updates the
  # running ones, as the reference's SyncBN in train mode; 'running' keeps the pretrained ones.
  config.model.encoder.frozen_batch_norm = 'batch'

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'in_batch'  # in_batch | full_softmax | bce
  config.loss.popularity_power = 1.0  # logQ correction of in_batch

  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 1e-4
  config.optim.weight_decay = 0.1  # decoupled (AdamW), recommender parameters only
  config.optim.clip_norm = 5.0
  config.optim.schedule = 'constant'  # constant | cosine
  config.optim.warmup_steps = 0
  config.optim.video_lr = 1e-4  # the video tower (encoder and projection)
  config.optim.video_weight_decay = 0.0

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
  config.eval.encode_batch = 64  # clips per step when the video tower embeds every item

  config.mesh = ml_collections.ConfigDict()
  config.mesh.data = -1  # -1: all devices not used by the other axes
  config.mesh.model = 1  # shards the item table over items
  # Logical axis -> mesh axis, the one place sharding is decided (MaxText-style). Video-encoder
  # parameters are replicated; ('encoder_params', 'data') shards them FSDP-style over the batch.
  config.mesh.rules = (('batch', 'data'), ('items', 'model'), ('embed', None),
                       ('encoder_params', None))
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


# Global batch of the paper's runs: 4 GPUs x the per-GPU batch of reference table 4.4 (topT).
PAPER_BATCH = {'slowfast_r50': 480, 'slowfast_r101': 480, 'videomae_b': 180, 'r3d_18': 128,
               'r2plus1d_r50': 280, 'c2d_r50': 180, 'i3d_r50': 180, 'csn_r101': 180,
               'slow_r50': 180, 'x3d_xs': 440, 'x3d_s': 440, 'x3d_m': 440, 'x3d_l': 360,
               'mvit_b_16x4': 120, 'mvit_b_32x3': 120}


def video_config(user_encoder: str, arg: str | None,
                 **model_overrides) -> ml_collections.ConfigDict:
  """End-to-end VideoRec (reference 2.3, 4.4): the paper's setting, or `toy`.

  Paper: MicroLens-100K, SlowFast-r50 topT with its Kinetics head, 5 frames at 224, D=512,
  lr 1e-4 for both groups, weight decay 0.1 on the recommender only, in-batch loss with logQ.
  """
  config = base()
  config.model.user_encoder = user_encoder
  config.model.update(model_overrides)
  config.model.item_tower = 'video'
  config.model.hidden = 512
  config.model.encoder.output = 'head'
  config.train.batch_size = PAPER_BATCH[config.model.encoder.name]
  config.eval.batch_size = 512
  if arg == 'toy':
    return toy_variant(config)
  if arg:
    raise ValueError(f'unknown config argument {arg!r}; known: toy')
  return config


def toy_variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The synthetic `toy` subset, a tiny encoder trained from scratch, small clips: CPU minutes."""
  config.data.name = 'microlens/toy'
  config.data.num_frames = 4
  config.data.frame_size = 32
  config.data.clips_in_memory = True
  config.model.hidden = 64
  config.model.dropout = 0.1
  config.model.encoder.name = 'tiny_c3d'
  config.model.encoder.output = 'features'
  config.model.encoder.train_mode = 'scratch'
  config.optim.lr = config.optim.video_lr = 1e-3
  config.train.batch_size = 64
  config.train.epochs = 8
  config.train.log_every_steps = 5
  config.eval.batch_size = 256
  config.eval.encode_batch = 128
  return config
