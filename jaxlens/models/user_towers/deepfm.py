"""DeepFM as the reference's IDRec baseline (`Code/IDRec/DeepFM`): an FM plus a deep part.

A (history, candidate) pair is the field matrix `[the L history items, the candidate]`, PAD
zeroed. Score = FM over the fields (a scalar) + `Linear(D, 1)(ReLU(Linear((L+1) D -> D, no
bias)(the fields concatenated)))`.

Full ranking factorises what is linear in the candidate: the FM is `fm(h) + sum(h) . c`, and the
first deep layer is `W_h flat(h) + W_c c`, a per-user vector plus a per-item vector. What
remains per pair is their sum, the ReLU and the output layer (D each) and the dot product
`sum(h) . c`, done as one matrix product per batch of users.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.user_towers import fm
from jaxlens.models.user_towers.base import REGISTRY, UserTower, UserTowerSpec

_XAVIER = nnx.initializers.xavier_normal()


class DeepFM(UserTower):

  def __init__(self, hidden: int, history_length: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
    # One kernel over all L + 1 fields, initialised as the reference's one Linear.
    self.deep = nnx.Linear((history_length + 1) * hidden, hidden, use_bias=False,
                           kernel_init=_XAVIER, dtype=dtype, rngs=rngs)
    self.output_layer = nnx.Linear(hidden, 1, kernel_init=_XAVIER, dtype=dtype, rngs=rngs)
    self.history_width = history_length * hidden

  def __call__(self, history, mask, user_ids=None, users=None):
    del user_ids, users  # a user is their history
    total, interactions = fm.history_terms(history, mask)
    masked = history * mask[..., None].astype(history.dtype)
    deep = masked.reshape(masked.shape[0], -1) @ self.deep.kernel[:self.history_width]
    return {'sum': total[:, None], 'interactions': jnp.sum(interactions, -1)[:, None, None],
            'deep': deep[:, None]}

  def _scores(self, queries, dots: jax.Array, candidates: jax.Array) -> jax.Array:
    """`dots` `(P, N)` = sum(h) . c; candidates `(P or 1, N, D)`."""
    hidden = jax.nn.relu(queries['deep'][:, None]
                         + candidates @ self.deep.kernel[self.history_width:])
    deep = jnp.sum(hidden * self.output_layer.kernel[:, 0], -1) + self.output_layer.bias[0]
    return queries['interactions'] + dots + deep

  def score(self, queries, candidates):
    return self._scores(queries, queries['sum'] @ candidates.T, candidates[None])

  def score_each(self, queries, candidates):
    return self._scores(queries, jnp.einsum('pd,pkd->pk', queries['sum'], candidates),
                        candidates)


def _build(config, data, *, layout, rngs: nnx.Rngs, dtype) -> DeepFM:
  del data, layout
  return DeepFM(config.model.hidden, config.data.max_seq_len, rngs=rngs, dtype=dtype)


REGISTRY.register(UserTowerSpec(
    'deepfm', build=_build, task='history', paper_batch_size=64, paper_name='DeepFM',
    family='cf', description='an FM and a deep part over the fields (Guo et al.)'))
