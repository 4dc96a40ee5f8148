"""The video item tower: a video encoder and `GELU(Linear(F, D))` (reference section 4.2).

Each distinct item of a batch is encoded once and its embedding gathered back to every slot that
holds it; padding slots are masked to zero, never encoded (the reference encoded every slot,
padding included). Clips arrive as uint8 and are normalised on the device.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.data.normalize import normalize
from jaxlens.models.video import registry

class ClipEmbedder(nnx.Module):
  """uint8 clips `(N, T, H, W, 3)` -> item embeddings `(N, D)`."""

  def __init__(self, spec: registry.EncoderSpec, *, output: str, hidden: int, rngs: nnx.Rngs,
               dtype=jnp.float32, remat: bool = False, shape_options=None):
    self.encoder = spec.build(output=output, rngs=rngs, dtype=dtype, remat=remat,
                              **(shape_options or {}))
    self.projection = nnx.Linear(spec.out_dim(output), hidden, dtype=dtype, rngs=rngs,
                                 kernel_init=nnx.initializers.xavier_normal())
    self.dtype = dtype

  def __call__(self, clips: jax.Array) -> jax.Array:
    x = normalize(clips, dtype=self.dtype)
    return jax.nn.gelu(self.projection(self.encoder(x)), approximate=False)


class VideoItemTower(nnx.Module):

  def __init__(self, spec: registry.EncoderSpec, num_items: int, *, output: str, hidden: int,
               rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False, shape_options=None):
    self.num_items = num_items
    self.video = ClipEmbedder(spec, output=output, hidden=hidden, rngs=rngs, dtype=dtype,
                              remat=remat, shape_options=shape_options)

  @property
  def vocab_size(self) -> int:
    return self.num_items + 1

  def slot_embeddings(self, batch: dict[str, jax.Array]) -> jax.Array:
    """`(B, L+1, D)` from the batch's distinct clips and each slot's index among them."""
    unique_embs = self.video(batch['clips'])
    slot_ids = batch['item_ids']
    return unique_embs[batch['slot_index']] * (slot_ids != 0)[..., None].astype(unique_embs.dtype)

  def embed_clips(self, clips: jax.Array) -> jax.Array:
    return self.video(clips)

