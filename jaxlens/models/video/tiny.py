"""`tiny_c3d`: a three-layer 3D CNN for the toy subset and CI, trained from scratch.

Not from the paper: it exists so that the end-to-end quickstart trains a real video tower on two
CPU cores in minutes. It has no pretrained weights (its converter refuses).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.errors import JaxlensError
from jaxlens.models.video import registry

_LAYERS = ((16, (1, 3, 3), (1, 2, 2)), (32, (3, 3, 3), (1, 2, 2)), (64, (3, 3, 3), (2, 2, 2)))


class ConvBNReLU(nnx.Module):

  def __init__(self, channels_in: int, channels_out: int, kernel, strides, *, rngs: nnx.Rngs,
               dtype=jnp.float32):
    self.conv = nnx.Conv(channels_in, channels_out, kernel, strides=strides, use_bias=False,
                         dtype=dtype, rngs=rngs)
    self.norm = nnx.BatchNorm(channels_out, momentum=0.9, epsilon=1e-5, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return jax.nn.relu(self.norm(self.conv(x)))


class TinyC3D(nnx.Module):

  def __init__(self, *, rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False):
    del remat  # three small layers: nothing worth recomputing
    channels = (3,) + tuple(c for c, _, _ in _LAYERS)
    self.layers = nnx.List([ConvBNReLU(cin, cout, kernel, strides, rngs=rngs, dtype=dtype)
                            for cin, (cout, kernel, strides) in zip(channels, _LAYERS)])

  def __call__(self, clips: jax.Array) -> jax.Array:
    x = clips
    for layer in self.layers:
      x = layer(x)
    return jnp.mean(x, axis=(1, 2, 3))


def _build(output: str = 'features', *, rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False):
  del output  # no classifier: 'head' and 'features' are the same pooled features
  return TinyC3D(rngs=rngs, dtype=dtype, remat=remat)


def _no_pretrained_weights(state_dict, output, **unused):
  del state_dict, output, unused
  raise JaxlensError('tiny_c3d has no pretrained weights to convert; train it from scratch')


registry.register(registry.EncoderSpec(
    name='tiny_c3d', build=_build, feature_dim=64, head_dim=64,
    trainable_prefixes={'topT': ('layers.2',)}, from_torch=_no_pretrained_weights,
    min_input=(3, 8, 8), paper_name='(toy encoder, not in the paper)'))
