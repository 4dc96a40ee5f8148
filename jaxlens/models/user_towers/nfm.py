"""NFM as the reference's IDRec baseline (`Code/IDRec/NFM`): bi-interaction pooling, BatchNorm,
MLP.

A (history, candidate) pair is the field matrix `[the L history items, the candidate]`, PAD
zeroed. Bi-interaction pooling (an FM without the final sum) gives `fm(h) + sum(h) * c`; then
BatchNorm1d, Linear(D, D), ReLU, Linear(D, 1). The reference ends with one more ReLU (its
`MLPLayers` in `Code/IDRec/NFM/REC/model/IdModel/nfm.py`), so its scores are never negative;
`model.nfm.output_relu=True` restores it.

Full ranking (eval mode: BatchNorm on running statistics is an affine map `x * a + b`): the first
layer of a pair is `z = [(fm(h) * a + b) @ W + bias] + c @ (diag(sum(h) * a) W)`, a per-user
vector plus a D x H matrix per user applied to every candidate. What remains per pair is that
product (D x H multiply-adds), the ReLU and the output layer (H each): everything before the
ReLU is linear in the candidate, nothing after it is. Items go through it in blocks.

Training scores the batch's queries against its candidates the same way: BatchNorm's batch
statistics over the (queries x candidates) pairs follow from per-query and per-candidate moments
(`_pair_statistics`), so no `(queries, candidates, D)` pooled tensor is made. With the
reference's candidates (all B x 11 items of a batch of B rows) it was one per pass of the
network, and the step's cost.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.user_towers import fm
from jaxlens.models.user_towers.base import REGISTRY, UserTower, UserTowerSpec
from jaxlens.models.video.layers import BatchNorm

_XAVIER = nnx.initializers.xavier_normal()
# Full ranking's items per block: the block's (items, users, H) hidden layer stays in cache. One
# (all items, users H) product wrote and read it through memory: 50K users x 19,099 items took
# 107 s on 2 CPU cores, 31 s in blocks of 256 (docs/benchmarks.md, "CF baselines").
ITEM_BLOCK = 256


class NFM(UserTower):

  def __init__(self, hidden: int, *, dropout: float = 0.0, output_relu: bool = False,
               rngs: nnx.Rngs, dtype=jnp.float32):
    dense = lambda i, o: nnx.Linear(i, o, kernel_init=_XAVIER, dtype=dtype, rngs=rngs)
    self.norm = BatchNorm(hidden, dtype=dtype)
    self.hidden_layer, self.output_layer = dense(hidden, hidden), dense(hidden, 1)
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.output_relu = output_relu

  def __call__(self, history, mask, user_ids=None, users=None):
    del user_ids, users  # a user is their history
    total, interactions = fm.history_terms(history, mask)
    return {'sum': total[:, None], 'interactions': interactions[:, None]}

  def _head(self, pooled: jax.Array) -> jax.Array:
    """The network after the bi-interaction pooling `(..., D)` -> scores `(...)`."""
    hidden = jax.nn.relu(self.hidden_layer(self.dropout(self.norm(pooled))))
    out = self.output_layer(self.dropout(hidden))[..., 0]
    return jax.nn.relu(out) if self.output_relu else out

  def score_each(self, queries, candidates):
    """Every pair through the network: `(P, K, D)` candidates, or `(1, N, D)` for all."""
    return self._head(queries['interactions'][:, None] + queries['sum'][:, None] * candidates)

  def score(self, queries, candidates):
    if self.norm.use_running_average:
      scale, shift = self.norm.affine()
    elif self.dropout.rate:  # dropout draws a mask per pair: every pair through the network
      return self.score_each(queries, candidates[None])
    else:  # training: BatchNorm over every (query, candidate) pair, from their moments
      scale, shift = self.norm.batch_affine(*_pair_statistics(queries, candidates))
    kernel = self.hidden_layer.kernel[...]
    per_user = (queries['interactions'] * scale + shift) @ kernel + self.hidden_layer.bias[...]
    users, width = per_user.shape
    per_user_kernel = (queries['sum'] * scale)[:, :, None] * kernel  # (P, D, H)
    per_user_kernel = per_user_kernel.transpose(1, 0, 2).reshape(-1, users * width)
    output_kernel = self.output_layer.kernel[:, 0]

    def block_scores(block):  # (ITEM_BLOCK, D) -> (ITEM_BLOCK, P)
      hidden = jax.nn.relu((block @ per_user_kernel).reshape(-1, users, width) + per_user)
      return jnp.sum(hidden * output_kernel, -1)

    num_items = candidates.shape[0]
    blocks = jnp.pad(candidates, ((0, -num_items % ITEM_BLOCK), (0, 0)))
    out = jax.lax.map(block_scores, blocks.reshape(-1, ITEM_BLOCK, candidates.shape[1]))
    out = out.reshape(-1, users)[:num_items].T + self.output_layer.bias[0]
    return jax.nn.relu(out) if self.output_relu else out


def _build(config, data, *, layout, rngs: nnx.Rngs, dtype) -> NFM:
  del data, layout
  return NFM(config.model.hidden, dropout=config.model.dropout,
             output_relu=config.model.nfm.output_relu, rngs=rngs, dtype=dtype)


REGISTRY.register(UserTowerSpec(
    'nfm', build=_build, task='history', paper_batch_size=64, paper_name='NFM', family='cf',
    description='bi-interaction pooling and an MLP (He & Chua)',
    # A ReLU on the score, as the reference (scores >= 0).
    config={'output_relu': False}, renamed={'model.output_relu': 'output_relu'}))


def _pair_statistics(queries, candidates) -> tuple[jax.Array, jax.Array, int]:
  """Mean and variance over every (query u, candidate j) pair of the pooled `a_u + s_u * c_j`
  (`a` the interactions, `s` the sum), and the number of pairs, from per-query and
  per-candidate moments: u and j range independently, so `E[s c] = E[s] E[c]`, and
  `E[(a' + s c)^2] = E[a'^2] + 2 E[a' s] E[c] + E[s^2] E[c^2]` with `a' = a - mean`."""
  a, s, c = (x.astype(jnp.float32) for x in (queries['interactions'], queries['sum'],
                                               candidates))
  mean_c, mean_c2 = jnp.mean(c, 0), jnp.mean(jnp.square(c), 0)
  mean = jnp.mean(a, 0) + jnp.mean(s, 0) * mean_c
  centred = a - mean
  var = (jnp.mean(jnp.square(centred), 0) + 2 * jnp.mean(centred * s, 0) * mean_c
         + jnp.mean(jnp.square(s), 0) * mean_c2)
  return mean, jnp.maximum(var, 0), a.shape[0] * c.shape[0]
