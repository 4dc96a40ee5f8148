r"""NextItNet_V (the paper's "VideoRec (E2E)" rows): a video encoder trained inside NextItNet.

  python -m jaxlens.main --config configs/nextitnet_v.py:toy --workdir runs/nextitnet_v_toy
  python -m jaxlens.main --config configs/nextitnet_v.py --workdir runs/nextitnet_v \
      --config.model.encoder.init_from=weights/slowfast_r50
  # other encoders and policies:
  #   --config.model.encoder.name=videomae_b --config.model.encoder.train_mode=frozen
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  return default_config.video_config('nextitnet', arg)
