"""jaxlens convert: a PyTorch video-encoder checkpoint into a jaxlens encoder folder.

  jaxlens convert --encoder mvit_b_16x4 --checkpoint MVIT_B_16x4.pyth \\
      --output weights/mvit_b_16x4 [--output_mode head|features] [--num_frames 5]
  jaxlens convert --encoder slowfast_r50 --checkpoint SLOWFAST_8x8_R50.pyth \\
      --output weights/slowfast_r50 --output_mode features

Any registered encoder with pretrained weights: the CNNs (r3d_18, c2d_r50, i3d_r50, slow_r50,
r2plus1d_r50, csn_r101, slowfast_r50/r101, x3d_xs/s/m/l), MViT-B 16x4/32x3 and VideoMAE-B.

Reads pytorchvideo `.pyth` (`{'model_state': ...}`), torchvision `.pth`, Hugging Face
`pytorch_model.bin` or `model.safetensors`, never unpickling code. Every tensor must map onto the
encoder and every parameter must be filled; errors print as one `error: ...` line, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from flax import nnx

import jaxlens.models.video  # pylint: disable=unused-import  # registers every family
from jaxlens import cli
from jaxlens.convert.pretrained import load_torch, save_encoder
from jaxlens.convert.torch_checkpoint import load_state_dict
from jaxlens.models.video import registry


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = cli.ArgumentParser('jaxlens convert', __doc__)
  parser.add_argument('--encoder', required=True, help='registry name, e.g. mvit_b_16x4')
  parser.add_argument('--checkpoint', required=True, help='PyTorch checkpoint file')
  parser.add_argument('--output', required=True, help='new folder for the converted encoder')
  parser.add_argument('--output_mode', choices=('head', 'features'), default='head',
                      help="'head': the reference's output; 'features': classifier dropped")
  parser.add_argument('--num_frames', type=int, default=5,
                      help='clip length, for encoders whose parameters depend on it (MViT, '
                      'VideoMAE); the CNNs take any')
  parser.add_argument('--crop_size', type=int, default=224,
                      help='clip height and width, for encoders with position tables; the '
                      'CNNs take any')
  return parser.parse_args(argv)


def convert(encoder: str, checkpoint: str, output: str, output_mode: str = 'head',
            num_frames: int = 5, crop_size: int = 224) -> None:
  spec = registry.get(encoder)
  options = spec.shape_kwargs(num_frames, crop_size)
  module = load_torch(spec, load_state_dict(checkpoint), output_mode, rngs=nnx.Rngs(0),
                      source=checkpoint, **options)
  save_encoder(module, output, {
      'encoder': encoder,
      'output_mode': output_mode,
      **options,
      'source': os.path.abspath(checkpoint),
  })


def _convert(args) -> None:
  convert(args.encoder, args.checkpoint, args.output, args.output_mode, args.num_frames,
          args.crop_size)
  print(f'wrote {args.output} ({args.encoder}, {args.output_mode})')


def main(argv: list[str]) -> int:
  args = _parse(argv)
  return cli.exit_status(lambda: _convert(args))


def run() -> None:
  """The installed command."""
  sys.exit(main(sys.argv[1:]))


if __name__ == '__main__':
  run()
