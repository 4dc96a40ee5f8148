"""VideoMAE ViT-B, as the reference builds it: `VideoMAEModel(VideoMAEConfig(num_frames=5))`.

Tubelets of 2 frames x 16 x 16 pixels, a fixed sinusoidal position table, pre-norm blocks with
biases on query and value only, and `use_mean_pooling=True`, so no final LayerNorm: the output is
the mean of the last hidden states over all tokens (768), for 'head' and 'features' alike.

Frames: like the reference, the tubelet convolution drops frames that do not fill a tubelet, so
with 5 frames the 5th frame is ignored (2 x 14 x 14 = 392 tokens at 224 px, as the reference's
`Code/VideoRec/SASRec/main.py` runs it). Padding would change the encoder the paper measured.
"""

from __future__ import annotations

import functools
import re
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlens.models.video.torch_mapping import torch_layer_param
from jaxlens.errors import JaxlensError
from jaxlens.models.video import registry
from jaxlens.models.video.layers import encoder_kernel_init
from jaxlens.models.video.transformer import Mlp, layer_norm, linear, run_blocks

WIDTH = 768
DEPTH = 12
HEADS = 12
MLP_DIM = 3072
TUBELET = 2
PATCH = 16
EPS = 1e-12  # VideoMAEConfig.layer_norm_eps


@functools.lru_cache(maxsize=8)
def sinusoid_table(positions: int, dim: int) -> np.ndarray:
  """HF's `get_sinusoid_encoding_table`: sin on even, cos on odd channels, computed in fp64."""
  exponent = 2 * (np.arange(dim) // 2) / dim
  angles = np.arange(positions)[:, None] / np.power(10000, exponent)[None, :]
  angles[:, 0::2] = np.sin(angles[:, 0::2])
  angles[:, 1::2] = np.cos(angles[:, 1::2])
  return angles.astype(np.float32)


class SelfAttention(nnx.Module):

  def __init__(self, *, dtype, rngs: nnx.Rngs):
    self.query = linear(WIDTH, WIDTH, dtype=dtype, rngs=rngs)
    self.key = linear(WIDTH, WIDTH, use_bias=False, dtype=dtype, rngs=rngs)
    self.value = linear(WIDTH, WIDTH, dtype=dtype, rngs=rngs)
    self.out = linear(WIDTH, WIDTH, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b, n, _ = x.shape
    q, k, v = (proj(x).reshape(b, n, HEADS, WIDTH // HEADS)
               for proj in (self.query, self.key, self.value))
    return self.out(jax.nn.dot_product_attention(q, k, v).reshape(b, n, WIDTH))


class Block(nnx.Module):
  """`VideoMAELayer`: x + attn(norm1(x)), then + mlp(norm2(x)); its dropouts are 0 in the config."""

  def __init__(self, *, dtype, rngs: nnx.Rngs):
    self.norm1 = layer_norm(WIDTH, epsilon=EPS, dtype=dtype, rngs=rngs)
    self.attn = SelfAttention(dtype=dtype, rngs=rngs)
    self.norm2 = layer_norm(WIDTH, epsilon=EPS, dtype=dtype, rngs=rngs)
    self.mlp = Mlp(WIDTH, MLP_DIM, WIDTH, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x + self.attn(self.norm1(x))
    return x + self.mlp(self.norm2(x))


class VideoMAE(nnx.Module):
  """Clips `(N, T, H, W, 3)` -> mean of the last hidden states `(N, 768)`."""

  def __init__(self, *, output: str, rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False,
               num_frames: int = 5, crop_size: int = 224):
    if output not in ('head', 'features'):
      raise JaxlensError(f"VideoMAE output must be 'head' or 'features', not {output!r}")
    if num_frames < TUBELET or crop_size < PATCH:
      raise JaxlensError(f'VideoMAE needs at least {TUBELET} frames of {PATCH} px, '
                         f'got {num_frames} frames of {crop_size} px')
    self.input_shape = (num_frames, crop_size, crop_size, 3)
    self.num_tokens = (num_frames // TUBELET) * (crop_size // PATCH)**2
    self.remat = remat
    self.dtype = dtype
    self.patch_embed = nnx.Conv(3, WIDTH, kernel_size=(TUBELET, PATCH, PATCH),
                                strides=(TUBELET, PATCH, PATCH), padding='VALID', dtype=dtype,
                                param_dtype=jnp.float32, rngs=rngs,
                                kernel_init=encoder_kernel_init(
                                    nnx.nn.linear.default_kernel_init, 5))
    self.blocks = nnx.List([Block(dtype=dtype, rngs=rngs) for _ in range(DEPTH)])

  def __call__(self, clips: jax.Array) -> jax.Array:
    if tuple(clips.shape[1:]) != self.input_shape:
      raise JaxlensError(
          f'VideoMAE built for clips {self.input_shape}, got {tuple(clips.shape[1:])}')
    x = self.patch_embed(clips.astype(self.dtype))  # VALID: a partial last tubelet is dropped
    x = x.reshape(x.shape[0], -1, WIDTH)
    x = x + sinusoid_table(self.num_tokens, WIDTH).astype(self.dtype)
    x = run_blocks(self.blocks, x, self.remat)
    return jnp.mean(x.astype(jnp.float32), axis=1).astype(self.dtype)


# Tensors of HF VideoMAE checkpoints outside `VideoMAEModel`, which the reference's
# `VideoMAEModel.from_pretrained` ignores too: the K400 classifier and its norm, the pre-training
# decoder, and the final LayerNorm that `use_mean_pooling=True` leaves out.
_IGNORED = re.compile(r'(fc_norm|classifier|decoder|encoder_to_decoder|layernorm)\.|mask_token$')
_LAYER = re.compile(r'encoder\.layer\.(\d+)\.(.+)\.(weight|bias)')
_LAYER_PARTS = {
    'attention.attention.query': 'attn.query',
    'attention.attention.key': 'attn.key',
    'attention.attention.value': 'attn.value',
    'attention.output.dense': 'attn.out',
    'intermediate.dense': 'mlp.fc1',
    'output.dense': 'mlp.fc2',
    'layernorm_before': 'norm1',
    'layernorm_after': 'norm2',
}
_SOURCE = 'VideoMAE checkpoint'


def _renamed(name: str, source: str) -> str:
  if name.startswith('embeddings.patch_embeddings.projection.'):
    return name.replace('embeddings.patch_embeddings.projection.', 'patch_embed.')
  match = _LAYER.fullmatch(name)
  if match is None or match.group(2) not in _LAYER_PARTS:
    raise JaxlensError(f'{source}: unexpected tensor {name}')
  return f'blocks.{match.group(1)}.{_LAYER_PARTS[match.group(2)]}.{match.group(3)}'


def from_torch(state_dict: Mapping[str, np.ndarray], output: str = 'head', *,
               num_frames: int = 5, crop_size: int = 224,
               source: str = _SOURCE) -> dict[str, np.ndarray]:
  """HF VideoMAE state dict (`videomae.` prefix optional) -> flat NNX state.

  The position table is computed, not stored, so the clip geometry needs no tensor surgery; no
  classifier is kept, so 'head' and 'features' convert alike.
  """
  del output, num_frames, crop_size  # nothing in the checkpoint depends on them
  flat = {}
  for name, value in state_dict.items():
    name = name.removeprefix('videomae.')
    if _IGNORED.match(name):
      continue
    nnx_name, value = torch_layer_param(_renamed(name, source), value, source=source)
    flat[nnx_name] = value
  return flat


registry.register(registry.EncoderSpec(
    name='videomae_b',
    build=VideoMAE,
    feature_dim=WIDTH,
    head_dim=WIDTH,
    # Reference freeze indices 152 / 92 of named_parameters(): encoder.layer.10 / .6 onwards.
    trainable_prefixes={'topT': ('blocks.10', 'blocks.11'),
                        'halfT': tuple(f'blocks.{i}' for i in range(6, DEPTH))},
    from_torch=from_torch,
    min_input=(TUBELET, PATCH, PATCH),
    paper_name='VideoMAE',
    paper_batch_per_gpu={'frozen': 45, 'topT': 45, 'halfT': 18, 'FT': 10},
    shape_options=('num_frames', 'crop_size'),
))
