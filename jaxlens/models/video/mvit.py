"""MViT-B, the Kinetics-400 video model of pytorchvideo (`mvit_base_16x4`, `mvit_base_32x3`).

Faithful to `create_multiscale_vision_transformers` with the hub's MViT-B settings, not to the
reference's routing bug that built the image MViT-B-16 instead (`'mvit-base-16' in
'mvit-base-16x4'` matches first in `Code/VideoRec/SASRec/main.py` and `model/model.py`). The token
grid is known at construction: `num_frames` and `crop_size` size the position tables, as
pytorchvideo's `temporal_size` and `spatial_size` do. The 3x7x7 patch convolution has temporal
stride 2 and padding 1, so 5 frames give 3 temporal tokens; the Kinetics checkpoints have 8 (16x4)
or 16 (32x3) temporal positions, which `from_torch` resamples (`resample_positions`).
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlens.models.video.torch_mapping import torch_layer_param
from jaxlens.errors import JaxlensError
from jaxlens.models.video import registry
from jaxlens.models.video.layers import encoder_kernel_init
from jaxlens.models.video.transformer import (Mlp, drop_path, layer_norm, linear, linear_init,
                                              run_blocks)

DEPTH = 16
EMBED_DIM = 96
HEAD_DIM = 96  # every attention head of MViT-B is 96 wide
NUM_CLASSES = 400
# Blocks where width and heads double, queries (and the residual) are pooled 2x in space.
SCALE_BLOCKS = (1, 3, 14)
KV_SPATIAL_STRIDE = 8  # divided by 2 at every scale block: 8, 4, 2, 1
PATCH_KERNEL, PATCH_STRIDE, PATCH_PADDING = (3, 7, 7), (2, 4, 4), (1, 3, 3)
BLOCK_EPS = 1e-6  # norm1/norm2/norm_embed: `partial(nn.LayerNorm, eps=1e-6)`
POOL_EPS = 1e-6  # norm_q/k/v: the reference's pytorchvideo; K400 weights were trained with 1e-5
HEAD_DROPOUT = 0.5

Grid = tuple[int, int, int]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
  return (size + 2 * padding - kernel) // stride + 1


def _stage(index: int) -> int:
  """How many times block `index` (or its input) has been widened and pooled."""
  return sum(index >= s for s in SCALE_BLOCKS)


def token_grid(num_frames: int, crop_size: int) -> Grid:
  """(T, H, W) tokens after the patch convolution."""
  return tuple(_conv_out(n, k, s, p) for n, k, s, p in
               zip((num_frames, crop_size, crop_size), PATCH_KERNEL, PATCH_STRIDE, PATCH_PADDING))


def resample_positions(table: np.ndarray, length: int) -> np.ndarray:
  """Linear interpolation of a `(positions, dim)` table to `length` positions.

  Positions are cell centres spanning the same clip (`F.interpolate(mode='linear',
  align_corners=False)`): 8 checkpoint positions -> 3 read at 0.83, 3.5 and 6.17. Chosen over
  truncation because a 5-frame MicroLens clip spans the whole video, as the pretrained clip did.
  """
  table = np.asarray(table)
  if table.shape[0] == length:
    return table
  src = np.clip((np.arange(length) + 0.5) * table.shape[0] / length - 0.5, 0, table.shape[0] - 1)
  low = np.floor(src).astype(np.int64)
  high = np.minimum(low + 1, table.shape[0] - 1)
  weight = (src - low)[:, None]
  return ((1 - weight) * table[low] + weight * table[high]).astype(table.dtype)


def _split_cls(x: jax.Array, grid: Grid) -> tuple[jax.Array, jax.Array]:
  """(B, 1 + T*H*W, ...) -> CLS token (B, 1, ...) and the grid (B, T, H, W, ...)."""
  return x[:, :1], x[:, 1:].reshape(x.shape[0], *grid, *x.shape[2:])


def _join_cls(cls: jax.Array, grid_tokens: jax.Array) -> jax.Array:
  b, t, h, w = grid_tokens.shape[:4]
  return jnp.concatenate([cls, grid_tokens.reshape(b, t * h * w, *grid_tokens.shape[4:])], axis=1)


class AttentionPool(nnx.Module):
  """Depthwise 3x3x3 conv over the token grid of each head (CLS token untouched), then LayerNorm.

  The conv weights are shared by all heads, as pytorchvideo applies one `Conv3d(head_dim,
  head_dim, groups=head_dim)` to the heads folded into the batch.
  """

  def __init__(self, grid: Grid, stride: Grid, *, dtype, rngs: nnx.Rngs):
    self.grid = grid
    self.out_grid = tuple(_conv_out(n, 3, s, 1) for n, s in zip(grid, stride))
    self.conv = nnx.Conv(HEAD_DIM, HEAD_DIM, kernel_size=(3, 3, 3), strides=stride,
                         padding=((1, 1),) * 3, feature_group_count=HEAD_DIM, use_bias=False,
                         dtype=dtype, param_dtype=jnp.float32, rngs=rngs,
                         kernel_init=encoder_kernel_init(nnx.nn.linear.default_kernel_init, 5))
    self.norm = layer_norm(HEAD_DIM, epsilon=POOL_EPS, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:  # (B, N, heads, head_dim)
    cls, grid = _split_cls(x, self.grid)  # grid: (B, T, H, W, heads, D)
    b, heads = x.shape[0], x.shape[2]
    folded = jnp.moveaxis(grid, 4, 1).reshape(b * heads, *self.grid, HEAD_DIM)
    pooled = self.conv(folded).reshape(b, heads, *self.out_grid, HEAD_DIM)
    return self.norm(_join_cls(cls, jnp.moveaxis(pooled, 1, 4)))


class MultiscaleAttention(nnx.Module):
  """Self-attention whose queries and keys/values are pooled (`pool_first=False`: after q/k/v)."""

  def __init__(self, dim: int, grid: Grid, q_stride: Grid | None, kv_stride: Grid, *, dtype,
               rngs: nnx.Rngs):
    self.q = linear(dim, dim, dtype=dtype, rngs=rngs)
    self.k = linear(dim, dim, dtype=dtype, rngs=rngs)
    self.v = linear(dim, dim, dtype=dtype, rngs=rngs)
    self.proj = linear(dim, dim, dtype=dtype, rngs=rngs)
    self.pool_q = (AttentionPool(grid, q_stride, dtype=dtype, rngs=rngs)
                   if q_stride else None)
    self.pool_k = AttentionPool(grid, kv_stride, dtype=dtype, rngs=rngs)
    self.pool_v = AttentionPool(grid, kv_stride, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b, n, dim = x.shape
    heads = dim // HEAD_DIM
    q, k, v = (proj(x).reshape(b, n, heads, HEAD_DIM) for proj in (self.q, self.k, self.v))
    if self.pool_q is not None:
      q = self.pool_q(q)
    out = jax.nn.dot_product_attention(q, self.pool_k(k), self.pool_v(v))
    return self.proj(out.reshape(b, q.shape[1], dim))


class MultiscaleBlock(nnx.Module):
  """Pre-norm block; at a scale block the residual is max-pooled and widened through norm2."""

  def __init__(self, index: int, grid: Grid, drop_path_rate: float, *, dtype, rngs: nnx.Rngs):
    dim, dim_out = EMBED_DIM * 2**_stage(index), EMBED_DIM * 2**_stage(min(index + 1, DEPTH - 1))
    self.q_stride = (1, 2, 2) if index in SCALE_BLOCKS else None
    kv = KV_SPATIAL_STRIDE // 2**_stage(index)
    self.grid = grid
    self.norm1 = layer_norm(dim, epsilon=BLOCK_EPS, dtype=dtype, rngs=rngs)
    self.attn = MultiscaleAttention(dim, grid, self.q_stride, (1, kv, kv), dtype=dtype, rngs=rngs)
    self.norm2 = layer_norm(dim, epsilon=BLOCK_EPS, dtype=dtype, rngs=rngs)
    self.mlp = Mlp(dim, 4 * dim, dim_out, dtype=dtype, rngs=rngs)
    self.proj = linear(dim, dim_out, dtype=dtype, rngs=rngs) if dim != dim_out else None
    self.drop_path = drop_path(drop_path_rate, rngs)

  @property
  def out_grid(self) -> Grid:
    return self.attn.pool_q.out_grid if self.attn.pool_q is not None else self.grid

  def _pool_skip(self, x: jax.Array) -> jax.Array:
    """MaxPool3d(kernel (1,3,3), stride (1,2,2), padding (0,1,1)) of the grid; -inf padding.

    The init value must be a concrete (numpy) -inf for JAX to see a max pool it can differentiate.
    """
    if self.q_stride is None:
      return x
    cls, grid = _split_cls(x, self.grid)
    pooled = jax.lax.reduce_window(
        grid, np.array(-np.inf, grid.dtype), jax.lax.max, (1, 1, 3, 3, 1), (1, 1, 2, 2, 1),
        ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)))
    return _join_cls(cls, pooled)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = self._pool_skip(x) + self.drop_path(self.attn(self.norm1(x)))
    x_norm = self.norm2(x)
    shortcut = self.proj(x_norm) if self.proj is not None else x
    return shortcut + self.drop_path(self.mlp(x_norm))


class MViT(nnx.Module):
  """Clips `(N, T, H, W, 3)` -> 400 Kinetics logits ('head') or the normalised CLS token."""

  def __init__(self, *, output: str, rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False,
               num_frames: int = 5, crop_size: int = 224, drop_path_rate: float = 0.0):
    if output not in ('head', 'features'):
      raise JaxlensError(f"MViT output must be 'head' or 'features', not {output!r}")
    self.input_shape = (num_frames, crop_size, crop_size, 3)
    self.remat = remat
    grid = token_grid(num_frames, crop_size)
    self.patch_embed = nnx.Conv(
        3, EMBED_DIM, kernel_size=PATCH_KERNEL, strides=PATCH_STRIDE,
        padding=tuple((p, p) for p in PATCH_PADDING), dtype=dtype, param_dtype=jnp.float32,
        rngs=rngs, kernel_init=encoder_kernel_init(nnx.nn.linear.default_kernel_init, 5))
    position = lambda *shape: nnx.Param(linear_init(rngs.params(), shape, jnp.float32))
    self.cls_token = position(1, EMBED_DIM)
    self.pos_embed_class = position(1, EMBED_DIM)
    self.pos_embed_spatial = position(grid[1] * grid[2], EMBED_DIM)
    self.pos_embed_temporal = position(grid[0], EMBED_DIM)
    # Stochastic depth grows linearly over depth (`torch.linspace(0, rate, depth)`); the hub's
    # MViT-B leaves `droppath_rate_block` at its default, 0.
    rates = np.linspace(0.0, drop_path_rate, DEPTH)
    blocks = []
    for index in range(DEPTH):
      blocks.append(MultiscaleBlock(index, grid, float(rates[index]), dtype=dtype, rngs=rngs))
      grid = blocks[-1].out_grid
    self.blocks = nnx.List(blocks)
    width = EMBED_DIM * 2**_stage(DEPTH - 1)
    self.norm_embed = layer_norm(width, epsilon=BLOCK_EPS, dtype=dtype, rngs=rngs)
    if output == 'head':
      self.head_dropout = nnx.Dropout(HEAD_DROPOUT, rngs=rngs)
      self.head = linear(width, NUM_CLASSES, dtype=dtype, rngs=rngs)
    else:
      self.head = None
    self.dtype = dtype

  def __call__(self, clips: jax.Array) -> jax.Array:
    if tuple(clips.shape[1:]) != self.input_shape:
      raise JaxlensError(f'MViT built for clips {self.input_shape}, got {tuple(clips.shape[1:])}')
    x = self.patch_embed(clips.astype(self.dtype))
    b, t, h, w, c = x.shape
    positions = (self.pos_embed_temporal[...][:, None, :]
                 + self.pos_embed_spatial[...][None, :, :]).reshape(t * h * w, c)
    cls = jnp.broadcast_to(self.cls_token[...], (b, 1, c))
    x = jnp.concatenate([cls + self.pos_embed_class[...],
                         x.reshape(b, t * h * w, c) + positions], axis=1).astype(self.dtype)
    x = run_blocks(self.blocks, x, self.remat)
    features = self.norm_embed(x)[:, 0]
    if self.head is None:
      return features
    return self.head(self.head_dropout(features))


def from_torch(state_dict: Mapping[str, np.ndarray], output: str = 'head', *,
               num_frames: int = 5, crop_size: int = 224,
               source: str = 'MViT checkpoint') -> dict[str, np.ndarray]:
  """pytorchvideo MViT-B state dict -> flat NNX state; resamples `pos_embed_temporal`.

  `pos_embed_spatial` is not resampled: a checkpoint for another crop size fails `assign`.
  """
  temporal_tokens = token_grid(num_frames, crop_size)[0]
  flat = {}
  for name, value in state_dict.items():
    if output == 'features' and name.startswith('head.'):
      continue
    if name.startswith('cls_positional_encoding.'):
      key = name.removeprefix('cls_positional_encoding.')
      value = np.asarray(value)[0]
      if key == 'pos_embed_temporal':
        value = resample_positions(value, temporal_tokens)
      flat[key] = value
      continue
    torch_name = name.replace('patch_embed.patch_model.', 'patch_embed.').replace(
        'head.proj.', 'head.')
    # pytorchvideo names the pools `pool_q` and their norms `norm_q`; NNX nests them.
    for role in ('q', 'k', 'v'):
      torch_name = torch_name.replace(f'attn.pool_{role}.', f'attn.pool_{role}.conv.').replace(
          f'attn.norm_{role}.', f'attn.pool_{role}.norm.')
    nnx_name, value = torch_layer_param(torch_name, value, source=source)
    flat[nnx_name] = value
  return flat


def _trainable_from(first_block: int) -> tuple[str, ...]:
  return tuple(f'blocks.{i}' for i in range(first_block, DEPTH)) + ('norm_embed', 'head')


def _register(name: str, paper_name: str) -> None:
  """The 16x4 and 32x3 models share one architecture; only their checkpoints differ."""
  registry.register(registry.EncoderSpec(
      name=name,
      build=MViT,
      feature_dim=EMBED_DIM * 2**len(SCALE_BLOCKS),
      head_dim=NUM_CLASSES,
      # Reference freeze indices 326 / 192 of named_parameters(): blocks 14-15 / 8-15 onwards.
      trainable_prefixes={'topT': _trainable_from(14), 'halfT': _trainable_from(8)},
      from_torch=from_torch,
      min_input=(1, 16, 16),
      paper_name=paper_name,
      paper_batch_per_gpu={'frozen': 30, 'topT': 30, 'halfT': 30, 'FT': 10, 'scratch': 10},
      shape_options=('num_frames', 'crop_size'),
  ))


_register('mvit_b_16x4', 'MViT-B-16x4')
_register('mvit_b_32x3', 'MViT-B-32x3')
