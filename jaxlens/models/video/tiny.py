"""`tiny_c3d`: a two-layer 3D CNN for the toy subset and CI, trained from scratch.

Not from the paper: it exists so that the end-to-end quickstart trains a real video tower on two
CPU cores in minutes. Its 3D convolutions have stride equal to kernel (non-overlapping tubelets),
written as reshapes and matrix products, which XLA:CPU runs at matmul speed forward and backward
(its general 3D convolution kernels are many times slower at these sizes). It has no pretrained
weights (its converter refuses).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.errors import JaxlensError
from jaxlens.models.video import registry
from jaxlens.models.video.layers import BatchNorm, encoder_kernel_init

_LAYERS = ((32, (1, 4, 4)), (64, (2, 2, 2)))  # (channels, tubelet = kernel = stride)


def tubelets(x: jax.Array, size: tuple[int, int, int]) -> jax.Array:
  """`(N, T, H, W, C)` -> `(N, T//t, H//h, W//w, t*h*w*C)`: non-overlapping blocks, flattened.

  A partial last block is dropped, as a 'VALID' convolution with stride = kernel drops it (5
  frames give 2 tubelets of 2).
  """
  n, t, h, w, c = x.shape
  dt, dh, dw = size
  x = x[:, :t - t % dt, :h - h % dh, :w - w % dw]
  x = x.reshape(n, t // dt, dt, h // dh, dh, w // dw, dw, c)
  return x.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(n, t // dt, h // dh, w // dw, -1)


class TubeletConvBNReLU(nnx.Module):

  def __init__(self, channels_in: int, channels_out: int, size, *, rngs: nnx.Rngs,
               dtype=jnp.float32):
    self.size = size
    self.conv = nnx.Linear(
        channels_in * size[0] * size[1] * size[2], channels_out, use_bias=False, dtype=dtype,
        kernel_init=encoder_kernel_init(nnx.nn.linear.default_kernel_init, 2), rngs=rngs)
    self.norm = BatchNorm(channels_out, dtype=dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    return jax.nn.relu(self.norm(self.conv(tubelets(x, self.size))))


class TinyC3D(nnx.Module):

  def __init__(self, *, rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False):
    del remat  # two small layers: nothing worth recomputing
    channels = (3,) + tuple(c for c, _ in _LAYERS)
    self.layers = nnx.List([TubeletConvBNReLU(cin, cout, size, rngs=rngs, dtype=dtype)
                            for cin, (cout, size) in zip(channels, _LAYERS)])

  def __call__(self, clips: jax.Array) -> jax.Array:
    x = clips
    for layer in self.layers:
      x = layer(x)
    return jnp.mean(x, axis=(1, 2, 3))


def _build(output: str = 'features', *, rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False):
  del output  # no classifier: 'head' and 'features' are the same pooled features
  return TinyC3D(rngs=rngs, dtype=dtype, remat=remat)


def _no_pretrained_weights(state_dict, output='head', **unused):
  del state_dict, output, unused
  raise JaxlensError('tiny_c3d has no pretrained weights to convert; train it from scratch')


registry.register(registry.EncoderSpec(
    name='tiny_c3d', build=_build, feature_dim=64, head_dim=64,
    trainable_prefixes={'topT': ('layers.1',)}, from_torch=_no_pretrained_weights,
    min_input=(2, 8, 8), paper_name='(toy encoder, not in the paper)'))
