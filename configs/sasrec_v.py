r"""SASRec_V (the paper's "VideoRec (E2E)" rows): a video encoder trained inside SASRec.

  python -m jaxlens.main --config configs/sasrec_v.py:toy --workdir runs/sasrec_v_toy
  python -m jaxlens.main --config configs/sasrec_v.py --workdir runs/sasrec_v \
      --config.model.encoder.init_from=weights/slowfast_r50
  # other encoders and policies:
  #   --config.model.encoder.name=videomae_b --config.model.encoder.train_mode=frozen
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  return default_config.video_config('sasrec', arg)
