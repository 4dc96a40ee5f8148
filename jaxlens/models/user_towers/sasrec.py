"""SASRec as the reference's `Code/VideoRec/SASRec/model/user_encoders.py` builds it.

Post-LN transformer blocks (the reference's `model/modules.py`), bias-free attention
projections, ReLU feed-forward of width 4D, learned absolute positions, a causal plus key-padding
mask. Padding slots attend to everything (their rows are fully masked) but never reach a real
position or the loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens import config_values
from jaxlens.errors import JaxlensError
from jaxlens.models.user_towers.base import REGISTRY, UserTower, UserTowerSpec

_XAVIER = nnx.initializers.xavier_normal()
_MASKED = -1e9  # finite: fully masked padding rows then stay NaN-free


class MultiHeadAttention(nnx.Module):

  def __init__(self, hidden: int, num_heads: int, dropout: float, *, rngs: nnx.Rngs,
               dtype=jnp.float32):
    if hidden % num_heads:
      raise ValueError(f'hidden {hidden} is not divisible by {num_heads} heads')
    self.num_heads = num_heads
    dense = lambda: nnx.Linear(hidden, hidden, use_bias=False, kernel_init=_XAVIER, dtype=dtype,
                               rngs=rngs)
    self.query, self.key, self.value, self.output = dense(), dense(), dense(), dense()
    self.attention_dropout = nnx.Dropout(dropout, rngs=rngs)
    self.output_dropout = nnx.Dropout(dropout, rngs=rngs)
    self.norm = nnx.LayerNorm(hidden, epsilon=1e-6, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array, bias: jax.Array) -> jax.Array:
    batch, length, hidden = x.shape
    heads = lambda t: t.reshape(batch, length, self.num_heads, hidden // self.num_heads)
    q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
    scores = jnp.einsum('bqhd,bkhd->bhqk', q, k) / jnp.sqrt(hidden / self.num_heads).astype(q.dtype)
    probs = jax.nn.softmax((scores + bias[:, None]).astype(jnp.float32), axis=-1).astype(q.dtype)
    context = jnp.einsum('bhqk,bkhd->bqhd', self.attention_dropout(probs), v)
    out = self.output(context.reshape(batch, length, hidden))
    return self.norm(x + self.output_dropout(out))


class FeedForward(nnx.Module):

  def __init__(self, hidden: int, dropout: float, *, rngs: nnx.Rngs, dtype=jnp.float32):
    dense = lambda i, o: nnx.Linear(i, o, kernel_init=_XAVIER, dtype=dtype, rngs=rngs)
    self.expand, self.contract = dense(hidden, 4 * hidden), dense(4 * hidden, hidden)
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.norm = nnx.LayerNorm(hidden, epsilon=1e-6, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.norm(x + self.dropout(self.contract(jax.nn.relu(self.expand(x)))))


class SASRec(UserTower):
  """Maps left-padded item embeddings `(B, L, D)` to one user state per position."""

  def __init__(self, hidden: int, max_seq_len: int, *, num_blocks: int = 2, num_heads: int = 2,
               dropout: float = 0.1, rngs: nnx.Rngs, dtype=jnp.float32):
    self.positions = nnx.Embed(max_seq_len, hidden, embedding_init=_XAVIER, dtype=dtype, rngs=rngs)
    self.input_norm = nnx.LayerNorm(hidden, epsilon=1e-6, dtype=dtype, rngs=rngs)
    self.input_dropout = nnx.Dropout(dropout, rngs=rngs)
    self.attention = nnx.List([MultiHeadAttention(hidden, num_heads, dropout, rngs=rngs,
                                                  dtype=dtype) for _ in range(num_blocks)])
    self.feed_forward = nnx.List([FeedForward(hidden, dropout, rngs=rngs, dtype=dtype)
                                  for _ in range(num_blocks)])

  def __call__(self, item_embs: jax.Array, mask: jax.Array, user_ids=None,
               users=None) -> jax.Array:
    del user_ids, users  # a user is their history
    length = item_embs.shape[1]
    x = self.input_dropout(self.input_norm(item_embs + self.positions(jnp.arange(length))))
    causal = jnp.tril(jnp.ones((length, length), bool))
    bias = jnp.where(causal[None] & mask[:, None, :], 0.0, _MASKED).astype(x.dtype)
    for attention, feed_forward in zip(self.attention, self.feed_forward):
      x = feed_forward(attention(x, bias))
    return x


def _build(config, data, *, layout, rngs: nnx.Rngs, dtype) -> SASRec:
  del data, layout  # a user is their history
  model = config.model
  return SASRec(model.hidden, config.data.max_seq_len, num_blocks=model.sasrec.blocks,
                num_heads=model.sasrec.heads, dropout=model.dropout, rngs=rngs, dtype=dtype)


def _check(config) -> None:
  config_values.integer(config, 'model.sasrec.blocks')
  heads = config_values.integer(config, 'model.sasrec.heads')
  if config.model.hidden % heads:
    raise JaxlensError(f'config.model.hidden={config.model.hidden} is not divisible by '
                       f'config.model.sasrec.heads={heads} (SASRec splits it over its heads)')


REGISTRY.register(UserTowerSpec(
    'sasrec', build=_build, task='sequence', paper_batch_size=512, paper_name='SASRec',
    family='sr', description='self-attention over the history (Kang & McAuley)',
    config={'blocks': 2, 'heads': 2}, check=_check,
    renamed={'model.num_blocks': 'blocks', 'model.num_heads': 'heads'}))
