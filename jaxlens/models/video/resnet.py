"""pytorchvideo's ResNet family (C2D, I3D, Slow, R(2+1)D, CSN) from one parameterised builder.

The hub models differ only in the stem kernel, whether a max pool follows the stem and the first
stage, the temporal kernels of each block's first convolution, the form of the 3x3 convolution
(full 3D, (2+1)D, or channel-separated) and the strides. Module names follow pytorchvideo's
(`stem.conv`, `stages.3.res_blocks.0.branch2.conv_b`, ...), so conversion is a renaming of the first
path components. The building blocks here are shared with SlowFast and X3D.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.video import registry
from jaxlens.models.video.conversion import converter, prefix_renamer
from jaxlens.models.video.layers import (BatchNorm, Conv3d, KineticsClassifier, Triple, max_pool,
                                         spatial_mean)

STAGE_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


class ResNetStem(nnx.Module):
  """Conv, BatchNorm, ReLU, then an optional (1, 3, 3) / (1, 2, 2) max pool."""

  def __init__(self, out_features: int, kernel_size: Triple, pool: bool, *, dtype,
               rngs: nnx.Rngs):
    self.conv = Conv3d(3, out_features, kernel_size, (1, 2, 2), dtype=dtype, rngs=rngs)
    self.norm = BatchNorm(out_features, dtype=dtype)
    self.pool = pool

  def __call__(self, x: jax.Array) -> jax.Array:
    x = jax.nn.relu(self.norm(self.conv(x)))
    return max_pool(x, (1, 3, 3), (1, 2, 2), (0, 1, 1)) if self.pool else x


class Conv2plus1d(nnx.Module):
  """R(2+1)D's factorised conv: temporal (kt, 1, 1), BatchNorm, ReLU, spatial (1, kh, kw)."""

  def __init__(self, features: int, kernel_size: Triple, stride: Triple, *, dtype,
               rngs: nnx.Rngs):
    kt, kh, kw = kernel_size
    st, sh, sw = stride
    self.conv_t = Conv3d(features, features, (kt, 1, 1), (st, 1, 1), dtype=dtype, rngs=rngs)
    self.norm = BatchNorm(features, dtype=dtype)
    self.conv_xy = Conv3d(features, features, (1, kh, kw), (1, sh, sw), dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.conv_xy(jax.nn.relu(self.norm(self.conv_t(x))))


class Bottleneck(nnx.Module):
  """conv_a / norm_a / ReLU, conv_b / norm_b / [squeeze-excitation] / act_b, conv_c / norm_c."""

  def __init__(self, conv_a: Conv3d, conv_b: nnx.Module, conv_c: Conv3d, dim_inner: int,
               dim_out: int, *, se: nnx.Module | None = None,
               act_b: Callable[[jax.Array], jax.Array] = jax.nn.relu, dtype):
    self.conv_a = conv_a
    self.norm_a = BatchNorm(dim_inner, dtype=dtype)
    self.conv_b = conv_b
    self.norm_b = BatchNorm(dim_inner, dtype=dtype)
    self.se = se
    self.act_b = act_b
    self.conv_c = conv_c
    self.norm_c = BatchNorm(dim_out, dtype=dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = jax.nn.relu(self.norm_a(self.conv_a(x)))
    x = self.norm_b(self.conv_b(x))
    if self.se is not None:
      x = self.se(x)
    x = self.act_b(x)
    return self.norm_c(self.conv_c(x))


class ResBlock(nnx.Module):
  """ReLU(shortcut(x) + branch2(x)); the shortcut is a strided 1x1x1 conv where shapes change."""

  def __init__(self, branch2: nnx.Module, branch1_conv: Conv3d | None = None,
               branch1_norm: BatchNorm | None = None):
    self.branch1_conv = branch1_conv
    self.branch1_norm = branch1_norm
    self.branch2 = branch2

  def __call__(self, x: jax.Array) -> jax.Array:
    shortcut = x
    if self.branch1_conv is not None:
      shortcut = self.branch1_conv(x)
    if self.branch1_norm is not None:
      shortcut = self.branch1_norm(shortcut)
    return jax.nn.relu(shortcut + self.branch2(x))


def _call_block(block: nnx.Module, x: jax.Array) -> jax.Array:
  return block(x)


_remat_block = nnx.remat(_call_block)


class ResStage(nnx.Module):
  """A stage of residual blocks; with `remat`, each block's activations are recomputed."""

  def __init__(self, res_blocks: Sequence[nnx.Module], remat: bool = False):
    self.res_blocks = nnx.List(res_blocks)
    self.remat = remat

  def __call__(self, x: jax.Array) -> jax.Array:
    run = _remat_block if self.remat else _call_block
    for block in self.res_blocks:
      x = run(block, x)
    return x


@dataclasses.dataclass(frozen=True)
class StageSpec:
  """One ResNet stage. `conv_a_kernels` cycles over the blocks (I3D alternates (3,1,1)/(1,1,1))."""

  depth: int
  dim_in: int
  dim_inner: int
  dim_out: int
  conv_a_kernels: tuple[Triple, ...]
  conv_b_kernel: Triple
  stride: Triple  # applied by the first block's conv_b and shortcut
  conv_b: str = 'conv3d'  # 'conv3d' | 'conv2plus1d' | 'channel_separated'


def build_stage(spec: StageSpec, *, dtype, remat: bool, rngs: nnx.Rngs) -> ResStage:
  """pytorchvideo's `create_res_stage` with `create_bottleneck_block` and its variants."""
  blocks = []
  for index in range(spec.depth):
    dim_in = spec.dim_in if index == 0 else spec.dim_out
    stride = spec.stride if index == 0 else (1, 1, 1)
    conv_a_kernel = spec.conv_a_kernels[index % len(spec.conv_a_kernels)]
    conv_a = Conv3d(dim_in, spec.dim_inner, conv_a_kernel, dtype=dtype, rngs=rngs)
    if spec.conv_b == 'conv2plus1d':
      conv_b = Conv2plus1d(spec.dim_inner, spec.conv_b_kernel, stride, dtype=dtype, rngs=rngs)
    else:
      groups = spec.dim_inner if spec.conv_b == 'channel_separated' else 1
      conv_b = Conv3d(spec.dim_inner, spec.dim_inner, spec.conv_b_kernel, stride, groups=groups,
                      dtype=dtype, rngs=rngs)
    conv_c = Conv3d(spec.dim_inner, spec.dim_out, 1, dtype=dtype, rngs=rngs)
    branch2 = Bottleneck(conv_a, conv_b, conv_c, spec.dim_inner, spec.dim_out, dtype=dtype)
    if dim_in != spec.dim_out or stride != (1, 1, 1):
      blocks.append(ResBlock(branch2, Conv3d(dim_in, spec.dim_out, 1, stride, dtype=dtype,
                                             rngs=rngs), BatchNorm(spec.dim_out, dtype=dtype)))
    else:
      blocks.append(ResBlock(branch2))
  return ResStage(blocks, remat)


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
  """The hub settings that distinguish the members of the family."""

  model_depth: int
  stem_kernel: Triple
  stem_pool: bool
  conv_a_kernels: tuple[tuple[Triple, ...], ...]  # per stage, cycled over its blocks
  conv_b_kernel: Triple
  conv_b: str
  spatial_strides: tuple[int, int, int, int]
  temporal_strides: tuple[int, int, int, int]
  stage1_pool: bool  # C2D/I3D: MaxPool3d((2,1,1), stride 2) after res2 (pytorchvideo blocks.2)
  dropout_rate: float
  softmax: bool = False

  def stage_specs(self) -> list[StageSpec]:
    specs, dim_in = [], 64
    for index, depth in enumerate(STAGE_DEPTHS[self.model_depth]):
      dim_out = 256 * 2**index
      specs.append(StageSpec(
          depth, dim_in, dim_out // 4, dim_out, self.conv_a_kernels[index], self.conv_b_kernel,
          (self.temporal_strides[index],) + (self.spatial_strides[index],) * 2, self.conv_b))
      dim_in = dim_out
    return specs

  def torch_block_index(self) -> dict[str, int]:
    """NNX top-level module -> index in pytorchvideo's `Net.blocks` (stage1_pool takes one)."""
    shift = int(self.stage1_pool)
    index = {'stem': 0, 'stages.0': 1, 'head': 5 + shift}
    index.update({f'stages.{i}': i + 1 + shift for i in (1, 2, 3)})
    return index


class ResNet(nnx.Module):
  """A pytorchvideo ResNet on channels-last clips (N, T, H, W, 3) -> (N, 400) or (N, 2048).

  The reference's head pool (1, 7, 7) covers the whole final map at 224 pixels; here it is a
  global spatial mean, so the head keeps the remaining time steps, classifies each and averages.
  """

  def __init__(self, config: ResNetConfig, output: str = 'head', *, rngs: nnx.Rngs,
               dtype=jnp.float32, remat: bool = False):
    self.dtype = dtype
    self.stage1_pool = config.stage1_pool
    self.stem = ResNetStem(64, config.stem_kernel, config.stem_pool, dtype=dtype, rngs=rngs)
    self.stages = nnx.List([build_stage(spec, dtype=dtype, remat=remat, rngs=rngs)
                            for spec in config.stage_specs()])
    self.head = (KineticsClassifier(2048, 400, config.dropout_rate, config.softmax, dtype=dtype,
                                    rngs=rngs) if output == 'head' else None)

  def __call__(self, clips: jax.Array) -> jax.Array:
    x = self.stem(clips.astype(self.dtype))
    for index, stage in enumerate(self.stages):
      x = stage(x)
      if index == 0 and self.stage1_pool:
        x = max_pool(x, (2, 1, 1), (2, 1, 1), (0, 0, 0))
    pooled = spatial_mean(x)
    return self.head(pooled) if self.head is not None else jnp.mean(pooled, axis=1)


def _register(name: str, config: ResNetConfig, trained_stages: tuple[int, ...], paper_name: str,
              min_input: tuple[int, int, int], paper_batch_per_gpu: dict[str, int]) -> None:
  build = functools.partial(ResNet, config)
  torch_blocks = {k: f'blocks.{v}' for k, v in config.torch_block_index().items()}
  registry.register(registry.EncoderSpec(
      name=name,
      build=build,
      feature_dim=2048,
      head_dim=400,
      trainable_prefixes={'topT': tuple(f'stages.{i}' for i in trained_stages) + ('head',)},
      from_torch=converter(build, prefix_renamer(torch_blocks), torch_blocks['head']),
      min_input=min_input,
      paper_name=paper_name,
      paper_batch_per_gpu=paper_batch_per_gpu,
  ))


_ONES = ((1, 1, 1),)
_T3 = ((3, 1, 1),)

_register('c2d_r50', ResNetConfig(
    50, (1, 7, 7), True, (_ONES,) * 4, (1, 3, 3), 'conv3d', (1, 2, 2, 2), (1, 1, 1, 1),
    stage1_pool=True, dropout_rate=0.5), (3,), 'C2D-r50', (2, 32, 32),
          {'frozen': 45, 'topT': 45, 'FT': 10})
_register('i3d_r50', ResNetConfig(
    50, (5, 7, 7), True,
    (_T3, ((3, 1, 1), (1, 1, 1)), ((3, 1, 1), (1, 1, 1)), ((1, 1, 1), (3, 1, 1))),
    (1, 3, 3), 'conv3d', (1, 2, 2, 2), (1, 1, 1, 1), stage1_pool=True, dropout_rate=0.5),
          (2, 3), 'I3D-r50', (2, 32, 32), {'frozen': 45, 'topT': 45, 'FT': 15})
_register('slow_r50', ResNetConfig(
    50, (1, 7, 7), True, (_ONES, _ONES, _T3, _T3), (1, 3, 3), 'conv3d', (1, 2, 2, 2),
    (1, 1, 1, 1), stage1_pool=False, dropout_rate=0.5), (3,), 'Slow-r50', (1, 32, 32),
          {'frozen': 45, 'topT': 45, 'FT': 10})
_register('r2plus1d_r50', ResNetConfig(
    50, (1, 7, 7), False, (_ONES,) * 4, (3, 3, 3), 'conv2plus1d', (2, 2, 2, 2), (1, 1, 2, 2),
    stage1_pool=False, dropout_rate=0.5, softmax=True), (3,), 'R3D-r50', (1, 32, 32),
          {'frozen': 70, 'topT': 70, 'FT': 10})
_register('csn_r101', ResNetConfig(
    101, (3, 7, 7), True, (_ONES,) * 4, (3, 3, 3), 'channel_separated', (1, 2, 2, 2),
    (1, 2, 2, 2), stage1_pool=False, dropout_rate=0.0), (3,), 'CSN-r101', (1, 32, 32),
          {'frozen': 45, 'topT': 45, 'FT': 10})
