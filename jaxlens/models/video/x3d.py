"""pytorchvideo's X3D (`x3d_xs`, `x3d_s`, `x3d_m`, `x3d_l`) from the ResNet blocks.

XS, S and M share one architecture (they differ in the clip size they were trained on); L is
deeper. No temporal stride anywhere, so T is kept to the head, which averages over space only
(the reference's (1, 7, 7) pool at 224), applies the 2048-d projection and the classifier per time
step, then averages over time. The head output is raw logits: the reference's vendored
pytorchvideo builds X3D with `head_activation=None`, where pytorchvideo 0.1.5 adds a Softmax.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.video import registry
from jaxlens.models.video.conversion import converter, regex_renamer
from jaxlens.models.video.layers import (BatchNorm, Conv3d, KineticsClassifier, spatial_mean)
from jaxlens.models.video.resnet import Bottleneck, ResBlock, ResStage

WIDTH_FACTOR = 2.0
BOTTLENECK_FACTOR = 2.25
SE_RATIO = 0.0625
HEAD_DIM = 2048


def round_width(width: float, multiplier: float, divisor: int = 8) -> int:
  """pytorchvideo's channel rounding (to a multiple of 8, never below 90% of the target)."""
  width *= multiplier
  rounded = max(divisor, int(width + divisor / 2) // divisor * divisor)
  return rounded + divisor if rounded < 0.9 * width else rounded


class X3DStem(nnx.Module):
  """(1, 3, 3) conv, depthwise (5, 1, 1) conv, BatchNorm, ReLU."""

  def __init__(self, out_features: int, *, dtype, rngs: nnx.Rngs):
    self.conv_xy = Conv3d(3, out_features, (1, 3, 3), (1, 2, 2), dtype=dtype, rngs=rngs)
    self.conv_t = Conv3d(out_features, out_features, (5, 1, 1), groups=out_features, dtype=dtype,
                         rngs=rngs)
    self.norm = BatchNorm(out_features, dtype=dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    return jax.nn.relu(self.norm(self.conv_t(self.conv_xy(x))))


class SqueezeExcitation(nnx.Module):
  """fvcore's 3D squeeze-excitation: x * sigmoid(expand(relu(reduce(mean_thw(x)))))."""

  def __init__(self, features: int, reduced: int, *, dtype, rngs: nnx.Rngs):
    self.reduce = Conv3d(features, reduced, 1, use_bias=True, dtype=dtype, rngs=rngs)
    self.expand = Conv3d(reduced, features, 1, use_bias=True, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    squeezed = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return x * jax.nn.sigmoid(self.expand(jax.nn.relu(self.reduce(squeezed))))


def _x3d_stage(depth: int, dim_in: int, dim_out: int, *, dtype, remat: bool,
               rngs: nnx.Rngs) -> ResStage:
  """Depthwise 3x3x3 bottlenecks with swish, squeeze-excitation on every other block."""
  dim_inner = int(BOTTLENECK_FACTOR * dim_out)
  blocks = []
  for index in range(depth):
    block_in = dim_in if index == 0 else dim_out
    stride = (1, 2, 2) if index == 0 else (1, 1, 1)
    se = (SqueezeExcitation(dim_inner, round_width(dim_inner, SE_RATIO), dtype=dtype, rngs=rngs)
          if index % 2 == 0 else None)
    branch2 = Bottleneck(
        Conv3d(block_in, dim_inner, 1, dtype=dtype, rngs=rngs),
        Conv3d(dim_inner, dim_inner, 3, stride, groups=dim_inner, dtype=dtype, rngs=rngs),
        Conv3d(dim_inner, dim_out, 1, dtype=dtype, rngs=rngs),
        dim_inner, dim_out, se=se, act_b=jax.nn.silu, dtype=dtype)
    branch1_conv = (Conv3d(block_in, dim_out, 1, stride, dtype=dtype, rngs=rngs)
                    if block_in != dim_out or stride != (1, 1, 1) else None)
    branch1_norm = BatchNorm(dim_out, dtype=dtype) if block_in != dim_out else None
    blocks.append(ResBlock(branch2, branch1_conv, branch1_norm))
  return ResStage(blocks, remat)


class ProjectedPool(nnx.Module):
  """1x1x1 conv, BatchNorm, ReLU, spatial mean (keeping T), 1x1x1 conv to 2048, ReLU."""

  def __init__(self, dim_in: int, dim_inner: int, *, dtype, rngs: nnx.Rngs):
    self.pre_conv = Conv3d(dim_in, dim_inner, 1, dtype=dtype, rngs=rngs)
    self.pre_norm = BatchNorm(dim_inner, dtype=dtype)
    self.post_conv = Conv3d(dim_inner, HEAD_DIM, 1, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = jax.nn.relu(self.pre_norm(self.pre_conv(x)))
    pooled = spatial_mean(x).astype(x.dtype)[:, :, None, None, :]  # (N, T, 1, 1, C)
    return jax.nn.relu(self.post_conv(pooled))[:, :, 0, 0, :].astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class X3DConfig:
  depth_factor: float

  def stage_depths(self) -> list[int]:
    return [int(math.ceil(self.depth_factor * d)) for d in (1, 2, 5, 3)]


class X3D(nnx.Module):
  """X3D on channels-last clips (N, T, H, W, 3) -> (N, 400) logits or (N, 2048)."""

  def __init__(self, config: X3DConfig, output: str = 'head', *, rngs: nnx.Rngs,
               dtype=jnp.float32, remat: bool = False):
    self.dtype = dtype
    stem_dim = round_width(12, WIDTH_FACTOR)
    self.stem = X3DStem(stem_dim, dtype=dtype, rngs=rngs)
    stages, dim_in, width = [], stem_dim, 12
    for depth in config.stage_depths():
      dim_out = round_width(width, WIDTH_FACTOR)
      stages.append(_x3d_stage(depth, dim_in, dim_out, dtype=dtype, remat=remat, rngs=rngs))
      dim_in, width = dim_out, round_width(width, 2.0)
    self.stages = nnx.List(stages)
    self.projected_pool = ProjectedPool(dim_in, int(BOTTLENECK_FACTOR * dim_in), dtype=dtype,
                                        rngs=rngs)
    self.head = (KineticsClassifier(HEAD_DIM, 400, 0.5, dtype=dtype, rngs=rngs)
                 if output == 'head' else None)

  def __call__(self, clips: jax.Array) -> jax.Array:
    x = self.stem(clips.astype(self.dtype))
    for stage in self.stages:
      x = stage(x)
    pooled = self.projected_pool(x)
    return self.head(pooled) if self.head is not None else jnp.mean(pooled, axis=1)


# pytorchvideo names the stem's spatial conv `conv_t` and its temporal conv `conv_xy` (it reuses
# Conv2plus1d with the roles swapped); jaxlens names them by what they do.
_TORCH_NAMES = regex_renamer([
    (r'^stem\.conv_xy', 'blocks.0.conv.conv_t'),
    (r'^stem\.conv_t', 'blocks.0.conv.conv_xy'),
    (r'^stem\.norm', 'blocks.0.norm'),
    (r'^stages\.(\d+)\.', lambda m: f'blocks.{int(m.group(1)) + 1}.'),
    (r'\.branch2\.norm_b$', '.branch2.norm_b.0'),
    (r'\.branch2\.se\.reduce$', '.branch2.norm_b.1.block.0'),
    (r'\.branch2\.se\.expand$', '.branch2.norm_b.1.block.2'),
    (r'^projected_pool\.', 'blocks.5.pool.'),
    (r'^head\.', 'blocks.5.'),
])


def _register(name: str, config: X3DConfig, paper_name: str,
              paper_batch_per_gpu: dict[str, int]) -> None:
  build = functools.partial(X3D, config)
  registry.register(registry.EncoderSpec(
      name=name,
      build=build,
      feature_dim=HEAD_DIM,
      head_dim=400,
      trainable_prefixes={'topT': ('stages.3', 'projected_pool', 'head')},
      from_torch=converter(build, _TORCH_NAMES, 'blocks.5.proj'),
      min_input=(1, 32, 32),
      paper_name=paper_name,
      paper_batch_per_gpu=paper_batch_per_gpu,
  ))


_SMALL_BATCH = {'frozen': 110, 'topT': 110, 'FT': 20}
_register('x3d_xs', X3DConfig(2.2), 'X3D-xs', _SMALL_BATCH)
_register('x3d_s', X3DConfig(2.2), 'X3D-s', _SMALL_BATCH)
_register('x3d_m', X3DConfig(2.2), 'X3D-m', _SMALL_BATCH)
_register('x3d_l', X3DConfig(5.0), 'X3D-l', {'frozen': 90, 'topT': 90, 'FT': 12})
