r"""Figure 5: (a) pretrained (WT) against random (OT) encoders; (b-d) DNN layers over frozen ones.

  jaxlens sweep fig5 --root runs/fig5

(a) SASRec_V with the whole encoder trained (FT), starting from the Kinetics weights (WT) or from
random initialisation (OT), so the starting point is the only difference.
(b-d) SlowFast-r50, SlowFast-r101 and MViT-B-32x3 frozen, with 0-3 DNN layers between the
encoder and SASRec (`model.encoder.mlp_layers`).
All at the paper's batch for the encoder and policy (batch_size=-1) on MicroLens-100K.
"""

from jaxlens.sweep import Cell, Sweep

INIT_ENCODERS = ('r3d_18', 'slowfast_r50', 'videomae_b')
MLP_ENCODERS = ('slowfast_r50', 'slowfast_r101', 'mvit_b_32x3')
MLP_LAYERS = (0, 1, 2, 3)


def get_sweep(arg=None):
  if arg:
    raise ValueError(f'unknown sweep argument {arg!r}; fig5 has no variants')
  initialisation = [
      Cell(f'{encoder}-{label}', {'model.encoder.name': encoder, 'model.encoder.train_mode': 'FT',
                                  'model.encoder.init_from': init_from})
      for encoder in INIT_ENCODERS
      for label, init_from in (('WT', f'weights/{encoder}'), ('OT', 'random'))]
  dnn_layers = [
      Cell(f'{encoder}-frozen-mlp{layers}', {
          'model.encoder.name': encoder, 'model.encoder.train_mode': 'frozen',
          'model.encoder.init_from': f'weights/{encoder}', 'model.encoder.mlp_layers': layers})
      for encoder in MLP_ENCODERS for layers in MLP_LAYERS]
  return Sweep(config='sasrec_v', overrides={'train.batch_size': -1},
               cells=initialisation + dnn_layers)
