"""NextItNet as the reference's `Code/VideoRec/NexItNet/model/user_encoders.py` builds it:
dilated causal residual blocks.

Dilation pairs (1, 2), (4, 8), repeated `model.nextitnet.blocks` times; kernel 3;
LayerNorm(eps 1e-8) + ReLU; no dropout, no positions. Unlike the reference, padded positions are
zeroed after every block, so the output equals running on the unpadded sequence (the causal
convolution pads with zeros too).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens import config_values
from jaxlens.models.user_towers.base import REGISTRY, UserTower, UserTowerSpec


class CausalConv(nnx.Module):

  def __init__(self, hidden: int, dilation: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.conv = nnx.Conv(hidden, hidden, kernel_size=(3,), kernel_dilation=(dilation,),
                         padding=((2 * dilation, 0),), dtype=dtype, rngs=rngs,
                         kernel_init=nnx.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform'))
    self.norm = nnx.LayerNorm(hidden, epsilon=1e-8, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return jax.nn.relu(self.norm(self.conv(x)))


class ResidualBlock(nnx.Module):

  def __init__(self, hidden: int, dilation: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.first = CausalConv(hidden, dilation, rngs=rngs, dtype=dtype)
    self.second = CausalConv(hidden, 2 * dilation, rngs=rngs, dtype=dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    return x + self.second(self.first(x))


class NextItNet(UserTower):

  def __init__(self, hidden: int, *, num_blocks: int = 2, rngs: nnx.Rngs, dtype=jnp.float32):
    self.blocks = nnx.List([ResidualBlock(hidden, dilation, rngs=rngs, dtype=dtype)
                            for dilation in (1, 4) * num_blocks])

  def __call__(self, item_embs: jax.Array, mask: jax.Array, user_ids=None,
               users=None) -> jax.Array:
    del user_ids, users  # a user is their history
    keep = mask[..., None].astype(item_embs.dtype)
    x = item_embs * keep
    for block in self.blocks:
      x = block(x) * keep
    return x


def _build(config, data, *, layout, rngs: nnx.Rngs, dtype) -> NextItNet:
  del data, layout  # a user is their history
  return NextItNet(config.model.hidden, num_blocks=config.model.nextitnet.blocks, rngs=rngs,
                   dtype=dtype)


REGISTRY.register(UserTowerSpec(
    'nextitnet', build=_build, task='sequence', paper_batch_size=512, paper_name='NextItNet',
    family='sr', description='dilated causal convolutions (Yuan et al.)',
    # blocks: pairs of residual blocks with dilations (1, 2) and (4, 8)
    config={'blocks': 2}, check=lambda c: config_values.integer(c, 'model.nextitnet.blocks'),
    renamed={'model.num_blocks': 'blocks'}))
