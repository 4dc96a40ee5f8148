"""Pieces the two video transformers (MViT, VideoMAE) share: MLP, norms, drop path, block stacks.

Attention itself is `jax.nn.dot_product_attention` on `(batch, tokens, heads, head_dim)`: it keeps
logits and softmax in fp32 when the inputs are bf16.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.video.layers import encoder_kernel_init

# pytorchvideo's ViT init (`init_net_weights(style='vit')`) and HF VideoMAE both draw linear
# weights with std 0.02; this only matters for training from scratch.
linear_init = nnx.initializers.truncated_normal(stddev=0.02)


def linear(in_dim: int, out_dim: int, *, dtype, rngs: nnx.Rngs, use_bias: bool = True):
  return nnx.Linear(in_dim, out_dim, use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32,
                    kernel_init=encoder_kernel_init(linear_init, 2), rngs=rngs)


def layer_norm(dim: int, *, epsilon: float, dtype, rngs: nnx.Rngs) -> nnx.LayerNorm:
  return nnx.LayerNorm(dim, epsilon=epsilon, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)


class Mlp(nnx.Module):
  """fc1 -> exact (erf) GELU -> fc2, as both torch originals (`nn.GELU()`, HF 'gelu')."""

  def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, *, dtype, rngs: nnx.Rngs):
    self.fc1 = linear(in_dim, hidden_dim, dtype=dtype, rngs=rngs)
    self.fc2 = linear(hidden_dim, out_dim, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(jax.nn.gelu(self.fc1(x), approximate=False))


def drop_path(rate: float, rngs: nnx.Rngs) -> nnx.Dropout:
  """Stochastic depth: one keep/drop draw per sample, scaled by 1/keep like pytorchvideo."""
  return nnx.Dropout(rate, broadcast_dims=(1, 2), rngs=rngs)


def run_blocks(blocks: Sequence[nnx.Module], x: jax.Array, remat: bool) -> jax.Array:
  """Applies the blocks in order; with `remat`, each block's activations are recomputed in the
  backward pass instead of stored (memory for FT of long clips)."""
  def call(block, x):
    return block(x)
  if remat:
    call = nnx.remat(call)
  for block in blocks:
    x = call(block, x)
  return x
