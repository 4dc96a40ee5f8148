r"""GRU4Rec_V, the paper's "VideoRec (E2E)" row: a video encoder trained inside GRU4Rec.

The setting of the reference's `Code/VideoRec/GRU4Rec/run_video.py` and `main.py`:
MicroLens-100K, SlowFast-r50 topT with its Kinetics head on 5 frames at 224 px, D=512, lr 1e-4
for both groups, weight decay 0.1 on the recommender only, in-batch softmax with logQ, the
paper's batch for the encoder and policy (`batch_size=-1`: 4 GPUs x 120 here), the best epoch by
validation HR@10. `:toy` trains a tiny encoder from scratch on the synthetic toy subset in CPU
minutes.

  jaxlens train --config gru4rec_v:toy --workdir runs/gru4rec_v_toy
  jaxlens train --config gru4rec_v --workdir runs/gru4rec_v \
      --config.model.encoder.init_from=weights/slowfast_r50
  # other encoders and policies (the batch follows: -1 is resolved after overrides):
  #   --config.model.encoder.name=videomae_b --config.model.encoder.train_mode=frozen
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  config = default_config.base()
  config.data.update(name='microlens/100k', num_frames=5, frame_size=224)
  config.model.update(user_tower='gru4rec', item_tower='video', hidden=512, dropout=0.1)
  config.model.encoder.update(name='slowfast_r50', train_mode='topT', output='head')
  config.loss.update(name='in_batch')
  config.optim.update(lr=1e-4, content_lr=1e-4, weight_decay=0.1, schedule='constant')
  config.train.update(batch_size=-1, epochs=50)
  config.eval.update(batch_size=512, select_metric='HR@10')
  return default_config.variant(config, arg, toy=default_config.toy_variant)
