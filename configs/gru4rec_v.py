r"""GRU4Rec_V (the paper's "VideoRec (E2E)" rows): a video encoder trained inside GRU4Rec.

  python -m jaxlens.main --config configs/gru4rec_v.py:toy --workdir runs/gru4rec_v_toy
  python -m jaxlens.main --config configs/gru4rec_v.py --workdir runs/gru4rec_v \
      --config.model.encoder.init_from=weights/slowfast_r50
  # other encoders and policies:
  #   --config.model.encoder.name=videomae_b --config.model.encoder.train_mode=frozen
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  return default_config.video_config('gru4rec', arg, num_blocks=1)  # as the reference's GRU4Rec_V
