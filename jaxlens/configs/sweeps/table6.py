r"""Table 6 / Figure 4: SASRec_V with the paper's 15 video encoders, frozen / topT / FT.

  jaxlens sweep table6 --root runs/table6 --print_commands
  jaxlens sweep table6:toy --root runs/table6_toy

Paper: MicroLens-100K, each encoder from its Kinetics weights (`jaxlens convert ...
--output weights/<encoder>`) at the paper's batch for that encoder and policy (batch_size=-1).
`:toy`: a miniature on the synthetic toy subset, 3 encoders that take small clips, randomly
initialised (no pretrained weights offline), so it exercises the study, not the paper's finding.
To be shorter on 2 shared CPU cores it trains 3 epochs (the toy config's 8) and gives R3D-r18
4x16x16 clips (its smallest input; the others get the toy's 4x32x32): at 4x32x32 its FT cell
alone took about 18 minutes an epoch there. It still took 80 minutes at load average 6.7.
"""

from jaxlens.sweep import Cell, Sweep

# Table 6's rows, in the paper's order (Kinetics top-5 accuracy).
PAPER_ENCODERS = ('r3d_18', 'x3d_xs', 'c2d_r50', 'i3d_r50', 'x3d_s', 'slow_r50', 'x3d_m',
                  'r2plus1d_r50', 'slowfast_r50', 'csn_r101', 'x3d_l', 'slowfast_r101',
                  'mvit_b_16x4', 'mvit_b_32x3', 'videomae_b')
TOY_ENCODERS = ('tiny_c3d', 'x3d_xs', 'r3d_18')  # min_input fits (4, 32, 32)
TOY_EPOCHS = 3  # of the toy config's 8
TOY_FRAME_SIZE = {'r3d_18': 16}  # compute-bound on CPU at 32x32; the others keep the toy's 32
POLICIES = ('frozen', 'topT', 'FT')


def grid(encoders, init_from, frame_size=None) -> list[Cell]:
  frame_size = frame_size or {}
  return [Cell(f'{encoder}-{policy}', {'model.encoder.name': encoder,
                                       'model.encoder.train_mode': policy,
                                       'model.encoder.init_from': init_from(encoder),
                                       **({'data.frame_size': frame_size[encoder]}
                                          if encoder in frame_size else {})})
          for encoder in encoders for policy in POLICIES]


def get_sweep(arg=None):
  if arg == 'toy':
    return Sweep(config='sasrec_v:toy', overrides={'train.epochs': TOY_EPOCHS},
                 cells=grid(TOY_ENCODERS, lambda _: 'random', TOY_FRAME_SIZE))
  if arg:
    raise ValueError(f'unknown sweep argument {arg!r}; known: toy')
  return Sweep(config='sasrec_v', overrides={'train.batch_size': -1},
               cells=grid(PAPER_ENCODERS, lambda encoder: f'weights/{encoder}'))
