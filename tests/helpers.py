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


class FakeFrames:
  """Deterministic uint8 clips per original item id (what tfds_source.ItemFrames provides)."""

  def __init__(self, num_frames=4, size=16):
    self.shape = (num_frames, size, size, 3)

  def frames(self, item_id: int) -> np.ndarray:
    return np.random.default_rng(item_id).integers(0, 256, self.shape, dtype=np.uint8)

  def load_all(self, item_ids) -> np.ndarray:
    return np.stack([self.frames(int(i)) for i in item_ids])


def tiny_video_config(train_mode='scratch'):
  config = default_config.video_config('sasrec', 'toy')
  config.data.max_seq_len = 6
  config.data.num_frames, config.data.frame_size = 4, 16
  config.model.hidden = 16
  config.model.encoder.train_mode = train_mode
  config.train.batch_size = 16
  config.train.epochs = 2
  config.eval.batch_size = 16
  config.eval.encode_batch = 16
  return config
