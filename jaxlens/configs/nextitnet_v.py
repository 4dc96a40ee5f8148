r"""NextItNet_V, the paper's "VideoRec (E2E)" row: a video encoder trained inside NextItNet.

The setting of the reference's `Code/VideoRec/NexItNet/run_video.py` and `main.py`:
MicroLens-100K, SlowFast-r50 topT with its Kinetics head on 5 frames at 224 px, D=512, lr 1e-4
for both groups, weight decay 0.1 on the recommender only, in-batch softmax with logQ, the
paper's batch for the encoder and policy (`batch_size=-1`: 4 GPUs x 120 here), the best epoch by
validation HR@10. `:toy` trains a tiny encoder from scratch on the synthetic toy subset in CPU
minutes.

  jaxlens train --config nextitnet_v:toy --workdir runs/nextitnet_v_toy
  jaxlens train --config nextitnet_v --workdir runs/nextitnet_v \
      --config.model.encoder.init_from=weights/slowfast_r50
  # other encoders and policies (the batch follows: -1 is resolved after overrides):
  #   --config.model.encoder.name=videomae_b --config.model.encoder.train_mode=frozen
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  """`sasrec_v` (and its variants) with the nextitnet user tower: the two differ in nothing else."""
  config = default_config.load(f'sasrec_v:{arg}' if arg else 'sasrec_v')
  config.model.user_tower = 'nextitnet'
  return config
