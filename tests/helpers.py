"""Small synthetic data and configs shared by the training tests."""

from jaxlens import default_config


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
