"""pytorchvideo's SlowFast (`slowfast_r50`, `slowfast_16x8_r101_50_50`) from the ResNet blocks.

Input handling generalises the reference's: the fast pathway sees all T frames, the slow pathway
every 4th frame (frames 0 and 4 of 5, as the reference), which is exactly the number of time steps
the stride-4 fast-to-slow fusion convolutions produce. The head averages each pathway over space
and the fast one over a temporal window of T - T_slow + 1 (the reference's (4, 7, 7) for 5 frames
at 224), so both end with the slow pathway's time steps; then concatenation (2304 channels),
dropout, projection and the mean over time.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.video import registry
from jaxlens.models.video.conversion import converter, prefix_renamer
from jaxlens.models.video.layers import (ConvNormAct, KineticsClassifier, Triple, spatial_mean,
                                         temporal_avg_pool)
from jaxlens.models.video.resnet import STAGE_DEPTHS, ResNetStem, StageSpec, build_stage

ALPHA = 4  # frame-rate ratio fast/slow: the fusion convolutions' temporal stride
BETA_INV = 8  # channel ratio slow/fast
FUSION_RATIO = 2  # fused channels = 2 x fast channels


@dataclasses.dataclass(frozen=True)
class SlowFastConfig:
  model_depth: int
  fusion_kernel: int  # temporal kernel of the fast-to-slow convolutions
  # Per pathway (slow, fast), per stage: the conv_a kernels, cycled over the stage's blocks.
  conv_a_kernels: tuple[tuple[tuple[Triple, ...], ...], tuple[tuple[Triple, ...], ...]]

  def stage_specs(self) -> list[tuple[StageSpec, StageSpec]]:
    specs, dim_in = [], 64
    for index, depth in enumerate(STAGE_DEPTHS[self.model_depth]):
      dim_out = 256 * 2**index
      stride = (1, 1, 1) if index == 0 else (1, 2, 2)
      slow = StageSpec(depth, dim_in + dim_in * FUSION_RATIO // BETA_INV, dim_out // 4, dim_out,
                       self.conv_a_kernels[0][index], (1, 3, 3), stride)
      fast = StageSpec(depth, dim_in // BETA_INV, dim_out // 4 // BETA_INV, dim_out // BETA_INV,
                       self.conv_a_kernels[1][index], (1, 3, 3), stride)
      specs.append((slow, fast))
      dim_in = dim_out
    return specs


class SlowFast(nnx.Module):
  """SlowFast on channels-last clips (N, T, H, W, 3) -> (N, 400) or pooled (N, 2304)."""

  def __init__(self, config: SlowFastConfig, output: str = 'head', *, rngs: nnx.Rngs,
               dtype=jnp.float32, remat: bool = False):
    self.dtype = dtype
    self.stems = nnx.List([
        ResNetStem(64, (1, 7, 7), True, dtype=dtype, rngs=rngs),
        ResNetStem(64 // BETA_INV, (5, 7, 7), True, dtype=dtype, rngs=rngs),
    ])
    fast_dims = [64 // BETA_INV] + [256 * 2**i // BETA_INV for i in range(3)]
    self.fusions = nnx.List([
        ConvNormAct(dim, dim * FUSION_RATIO, (config.fusion_kernel, 1, 1), (ALPHA, 1, 1),
                    dtype=dtype, rngs=rngs) for dim in fast_dims
    ])
    self.stages = nnx.List([
        nnx.List([build_stage(spec, dtype=dtype, remat=remat, rngs=rngs) for spec in pair])
        for pair in config.stage_specs()
    ])
    feature_dim = 2048 + 2048 // BETA_INV
    self.head = (KineticsClassifier(feature_dim, 400, 0.5, dtype=dtype, rngs=rngs)
                 if output == 'head' else None)

  def __call__(self, clips: jax.Array) -> jax.Array:
    clips = clips.astype(self.dtype)
    slow, fast = self.stems[0](clips[:, ::ALPHA]), self.stems[1](clips)
    for index, (slow_stage, fast_stage) in enumerate(self.stages):
      fused = self.fusions[index](fast)
      slow, fast = slow_stage(jnp.concatenate([slow, fused], axis=-1)), fast_stage(fast)
    slow_pooled = spatial_mean(slow)
    fast_pooled = temporal_avg_pool(spatial_mean(fast),
                                    fast.shape[1] - slow.shape[1] + 1)
    pooled = jnp.concatenate([slow_pooled, fast_pooled], axis=-1)
    return self.head(pooled) if self.head is not None else jnp.mean(pooled, axis=1)


def _torch_names() -> dict[str, str]:
  """NNX prefixes -> pytorchvideo's `Net.blocks` of MultiPathWayWithFuse modules."""
  names = {'head': 'blocks.6'}
  for pathway in (0, 1):
    names[f'stems.{pathway}'] = f'blocks.0.multipathway_blocks.{pathway}'
    for stage in range(4):
      names[f'stages.{stage}.{pathway}'] = f'blocks.{stage + 1}.multipathway_blocks.{pathway}'
  for fusion in range(4):
    names[f'fusions.{fusion}.conv'] = f'blocks.{fusion}.multipathway_fusion.conv_fast_to_slow'
    names[f'fusions.{fusion}.norm'] = f'blocks.{fusion}.multipathway_fusion.norm'
  return names


def _register(name: str, config: SlowFastConfig, paper_name: str,
              paper_batch_per_gpu: dict[str, int]) -> None:
  build = functools.partial(SlowFast, config)
  registry.register(registry.EncoderSpec(
      name=name,
      build=build,
      feature_dim=2048 + 2048 // BETA_INV,
      head_dim=400,
      # topT: res5 of both pathways + head; halfT adds res4 and the fusion that follows it.
      trainable_prefixes={'topT': ('stages.3', 'head'),
                          'halfT': ('stages.2', 'fusions.3', 'stages.3', 'head')},
      from_torch=converter(build, prefix_renamer(_torch_names()), 'blocks.6'),
      min_input=(1, 32, 32),
      paper_name=paper_name,
      paper_batch_per_gpu=paper_batch_per_gpu,
  ))


_ONES, _T3 = ((1, 1, 1),), ((3, 1, 1),)
_R101_RES4 = ((3, 1, 1),) * 6 + ((1, 1, 1),) * 17

_register('slowfast_r50', SlowFastConfig(50, 7, ((_ONES, _ONES, _T3, _T3), (_T3,) * 4)),
          'SlowFast-r50', {'frozen': 120, 'topT': 120, 'halfT': 60, 'FT': 20, 'scratch': 20})
_register('slowfast_r101', SlowFastConfig(
    101, 5, ((_ONES, _ONES, _R101_RES4, _T3), (_T3, _T3, _R101_RES4, _T3))), 'SlowFast-r101',
          {'frozen': 120, 'topT': 120, 'halfT': 25, 'FT': 15, 'scratch': 15})
