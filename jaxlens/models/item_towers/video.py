"""The video item tower: a video encoder and `GELU(Linear(F, D))`, as the reference's
`Code/VideoRec/SASRec/model/video_encoders.py`.

Each distinct item of a batch is encoded once and its embedding gathered back to every slot that
holds it; padding slots are masked to zero, never encoded (the reference encoded every slot,
padding included). The distinct-clip list is padded to a bucket size with repeats of real clips
(few shapes compile); those fillers are left out of BatchNorm's batch statistics, so the
statistics are those of the distinct clips alone. Clips arrive as uint8 and are normalised on
the device.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens import config_values
from jaxlens.convert import pretrained
from jaxlens.data.normalize import normalize
from jaxlens.data.pipeline import CLIP_MASK, CLIPS, clip_index
from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.models.item_towers.base import REGISTRY, ItemTower, ItemTowerSpec
from jaxlens.models.video import freezing
from jaxlens.models.video import registry as encoders
from jaxlens.models.video.layers import statistics_over
from jaxlens.sharding import Layout


class ClipEmbedder(nnx.Module):
  """uint8 clips `(N, T, H, W, 3)` -> item embeddings `(N, D)`.

  `mlp_layers` ReLU layers of width `mlp_width` (default: the encoder's output width) sit
  between the encoder and the projection: the paper's DNN layers over a frozen encoder
  (Figure 5b-d). They train with the projection.
  """

  def __init__(self, spec: encoders.EncoderSpec, *, output: str, hidden: int, rngs: nnx.Rngs,
               dtype=jnp.float32, remat: bool = False, shape_options=None, mlp_layers: int = 0,
               mlp_width: int = 0):
    self.encoder = spec.build(output=output, rngs=rngs, dtype=dtype, remat=remat,
                              **(shape_options or {}))
    width = spec.out_dim(output)
    widths = [width] + [mlp_width or width] * mlp_layers
    self.mlp = nnx.List([nnx.Linear(a, b, dtype=dtype, rngs=rngs,
                                    kernel_init=nnx.initializers.xavier_normal())
                         for a, b in zip(widths[:-1], widths[1:])])
    self.projection = nnx.Linear(widths[-1], hidden, dtype=dtype, rngs=rngs,
                                 kernel_init=nnx.initializers.xavier_normal())
    self.dtype = dtype

  def __call__(self, clips: jax.Array, sample_mask: jax.Array | None = None) -> jax.Array:
    x = normalize(clips, dtype=self.dtype)
    with statistics_over(self.encoder, sample_mask):
      features = self.encoder(x)
    for layer in self.mlp:
      features = jax.nn.relu(layer(features))
    return jax.nn.gelu(self.projection(features), approximate=False)


class VideoTower(ItemTower):

  def __init__(self, spec: encoders.EncoderSpec, num_items: int, *, output: str, hidden: int,
               rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False, shape_options=None,
               mlp_layers: int = 0, mlp_width: int = 0,
               trainable: Callable[[tuple], bool] = lambda path: True):
    self.num_items = num_items
    self.vocab_size = num_items + 1
    self.content = ClipEmbedder(spec, output=output, hidden=hidden, rngs=rngs, dtype=dtype,
                                remat=remat, shape_options=shape_options, mlp_layers=mlp_layers,
                                mlp_width=mlp_width)
    self._encoder_trainable = trainable

  def is_trainable(self, path: tuple) -> bool:
    """The freezing policy, on parameter paths relative to the tower."""
    return tuple(path[:2]) != ('content', 'encoder') or self._encoder_trainable(tuple(path[2:]))

  def embed(self, batch, fields):
    distinct = self.content(batch[CLIPS], batch[CLIP_MASK])
    return {field: distinct[batch[clip_index(field)]] *
                   (batch[field] != 0)[..., None].astype(distinct.dtype) for field in fields}

  def encode(self, clips: jax.Array) -> jax.Array:
    return self.content(clips)


def _check(config) -> None:
  """The encoder exists with this freezing policy, and its weights are what the policy needs."""
  encoder = config.model.encoder
  config_values.choice(config, 'model.encoder.output', ('head', 'features'))
  config_values.choice(config, 'model.encoder.frozen_batch_norm', ('batch', 'running'))
  config_values.integer(config, 'model.encoder.mlp_layers', 0)
  config_values.integer(config, 'model.encoder.mlp_width', 0)
  spec = encoders.get(encoder.name)
  freezing.trainable_predicate(spec, encoder.train_mode)  # an undefined policy raises
  if encoder.train_mode == 'scratch':
    if encoder.init_from:
      raise JaxlensError(f"config.model.encoder.train_mode='scratch' trains from random "
                         f'weights, but init_from={encoder.init_from!r} is set; use FT to '
                         'fine-tune loaded weights')
    return
  if not encoder.init_from:
    raise JaxlensError(
        f'config.model.encoder.train_mode={encoder.train_mode!r} needs pretrained weights: set '
        'model.encoder.init_from to a folder from jaxlens convert, or '
        f"init_from='{pretrained.RANDOM_INIT}' to train a randomly initialised encoder on "
        "purpose (the paper's OT ablation)")
  if encoder.init_from != pretrained.RANDOM_INIT:
    pretrained.check_info(encoder.init_from, spec, encoder.output, config.data.num_frames,
                          config.data.frame_size, asked_by='config')


def _paper_batch(config) -> int:
  encoder, policy = config.model.encoder.name, config.model.encoder.train_mode
  freezing.trainable_predicate(encoders.get(encoder), policy)  # an undefined policy raises
  batch = encoders.get(encoder).paper_batch(policy)
  if batch is None:
    raise JaxlensError(f'train.batch_size=-1: the paper ran no {encoder} {policy}; '
                       'set train.batch_size')
  return batch


def _start(tower: VideoTower, config) -> None:
  """Pretrained weights start a run (a resumed run restores its trained ones)."""
  init_from = config.model.encoder.init_from
  if init_from and init_from != pretrained.RANDOM_INIT:
    pretrained.restore_encoder(tower.content.encoder, init_from)


def _build(config, data: Interactions, *, layout: Layout, rngs: nnx.Rngs,
           dtype) -> VideoTower:
  del layout  # no table to shard
  encoder = config.model.encoder
  spec = encoders.get(encoder.name)
  is_trainable = freezing.trainable_predicate(spec, encoder.train_mode)
  tower = VideoTower(spec, data.num_items, output=encoder.output, hidden=config.model.hidden,
                     rngs=rngs, dtype=dtype, remat=encoder.remat,
                     shape_options=spec.shape_kwargs(config.data.num_frames,
                                                     config.data.frame_size),
                     mlp_layers=encoder.mlp_layers, mlp_width=encoder.mlp_width,
                     trainable=is_trainable)
  if encoder.frozen_batch_norm == 'running':
    frozen_norm = lambda path, node: (hasattr(node, 'use_running_average')
                                      and not is_trainable(tuple(path)))
    tower.content.encoder = nnx.view(tower.content.encoder, only=frozen_norm,
                                     use_running_average=True, raise_if_not_found=False)
  return tower


REGISTRY.register(ItemTowerSpec(
    'video', build=_build, has_table=False, batch_inputs=CLIPS,
    description='a video encoder over raw frames (VideoRec)',
    paper_row=lambda config: ('V', 'videorec'), paper_batch=_paper_batch, start=_start,
    namespace='encoder', check=_check, resumable=('init_from',),
    config={
        'name': 'slowfast_r50',  # jaxlens.models.video.registry names
        'output': 'features',  # features | head (the reference's 400 logits)
        'train_mode': 'topT',  # frozen | topT | halfT | FT | scratch
        # A folder written by `jaxlens convert`, or 'random' for a deliberately randomly
        # initialised encoder under a frozen/topT/halfT/FT policy (the paper's "OT" ablation).
        'init_from': '',
        'remat': False,  # recompute each block in the backward pass
        # DNN layers between the encoder and the projection (the paper's Figure 5b-d over
        # frozen encoders); width 0 = the encoder's output width.
        'mlp_layers': 0,
        'mlp_width': 0,
        # BatchNorm in frozen stages: 'batch' normalises with (global) batch statistics and
        # updates the running ones, as the reference's SyncBN in train mode; 'running' keeps
        # the pretrained ones.
        'frozen_batch_norm': 'batch',
    }))
