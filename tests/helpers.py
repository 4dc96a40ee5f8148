"""Small synthetic data and configs shared by the training tests."""

import numpy as np

from jaxlens import default_config
from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import apply_protocol


def synthetic_interactions(users=48, items=30, seed=0, max_seq_len=6):
  """Sequences of 5-9 items with a next-item pattern (item i tends to follow i-1)."""
  rng = np.random.default_rng(seed)
  histories = []
  for u in range(users):
    start = rng.integers(1, items + 1)
    length = rng.integers(5, 10)
    seq = (start + np.arange(length) + rng.integers(0, 2, size=length)) % items + 1
    histories.append(UserHistory(f'u{u}', seq.astype(np.int64)))
  return apply_protocol(histories, max_seq_len=max_seq_len)


def tiny_config(loss='in_batch', user_encoder='sasrec'):
  config = default_config.id_config(user_encoder, None)
  config.data.max_seq_len = 6
  config.model.hidden = 16
  config.train.batch_size = 16
  config.train.epochs = 2
  config.train.log_every_steps = 1
  config.eval.batch_size = 16
  config.loss.name = loss
  config.optim.lr = 1e-2
  return config
