"""torchvision's `r3d_18`: 3x3x3 basic blocks, strides in time too from the second stage.

The reference replaces its Kinetics `fc` with the item projection, so both outputs are the pooled
512-d features and the converter reads and drops `fc.*`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.video import registry
from jaxlens.models.video.conversion import converter, regex_renamer
from jaxlens.models.video.layers import BatchNorm, Conv3d, ConvNormAct
from jaxlens.models.video.resnet import ResBlock, ResStage


class BasicBranch(nnx.Module):
  """Two 3x3x3 ConvNormAct, the second without ReLU (it follows the residual sum)."""

  def __init__(self, dim_in: int, dim_out: int, stride: int, *, dtype, rngs: nnx.Rngs):
    self.conv1 = ConvNormAct(dim_in, dim_out, 3, stride, dtype=dtype, rngs=rngs)
    self.conv2 = ConvNormAct(dim_out, dim_out, 3, relu=False, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.conv2(self.conv1(x))


def _stage(dim_in: int, dim_out: int, stride: int, *, dtype, remat: bool,
           rngs: nnx.Rngs) -> ResStage:
  blocks = []
  for index in range(2):
    block_in, block_stride = (dim_in, stride) if index == 0 else (dim_out, 1)
    branch2 = BasicBranch(block_in, dim_out, block_stride, dtype=dtype, rngs=rngs)
    if block_stride != 1 or block_in != dim_out:
      blocks.append(ResBlock(branch2, Conv3d(block_in, dim_out, 1, block_stride, dtype=dtype,
                                             rngs=rngs), BatchNorm(dim_out, dtype=dtype)))
    else:
      blocks.append(ResBlock(branch2))
  return ResStage(blocks, remat)


class R3D18(nnx.Module):
  """r3d_18 on channels-last clips (N, T, H, W, 3) -> pooled (N, 512) in both output modes."""

  def __init__(self, output: str = 'head', *, rngs: nnx.Rngs, dtype=jnp.float32,
               remat: bool = False):
    del output  # the reference replaces the classifier: 'head' == 'features'
    self.dtype = dtype
    self.stem = ConvNormAct(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), dtype=dtype, rngs=rngs)
    dims = (64, 64, 128, 256, 512)
    self.stages = nnx.List([
        _stage(dims[i], dims[i + 1], 1 if i == 0 else 2, dtype=dtype, remat=remat, rngs=rngs)
        for i in range(4)
    ])

  def __call__(self, clips: jax.Array) -> jax.Array:
    x = self.stem(clips.astype(self.dtype))
    for stage in self.stages:
      x = stage(x)
    return jnp.mean(x.astype(jnp.float32), axis=(1, 2, 3))


_TORCH_NAMES = regex_renamer([
    (r'^stem\.conv', 'stem.0'),
    (r'^stem\.norm', 'stem.1'),
    (r'^stages\.(\d+)\.res_blocks\.', lambda m: f'layer{int(m.group(1)) + 1}.'),
    (r'\.branch2\.(conv[12])\.conv$', r'.\1.0'),
    (r'\.branch2\.(conv[12])\.norm$', r'.\1.1'),
    (r'\.branch1_conv$', '.downsample.0'),
    (r'\.branch1_norm$', '.downsample.1'),
])

registry.register(registry.EncoderSpec(
    name='r3d_18',
    build=R3D18,
    feature_dim=512,
    head_dim=512,
    # The reference trains layer3 + layer4 (and its replacement fc, the projection here).
    trainable_prefixes={'topT': ('stages.2', 'stages.3')},
    from_torch=converter(R3D18, _TORCH_NAMES, 'fc', classifier_in_head=False),
    min_input=(1, 16, 16),
    paper_name='R3D-r18',
    paper_batch_per_gpu={'frozen': 32, 'topT': 32, 'FT': 20},
))
