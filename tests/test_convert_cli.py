"""`python -m jaxlens.convert` end to end, and its one-line errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from flax import nnx
from safetensors.torch import save_file

from jaxlens.convert import pretrained
from jaxlens.convert.__main__ import main
from jaxlens.errors import JaxlensError
from jaxlens.models.video import mvit, registry
import torch_references.video as torch_reference
from tests.video_helpers import (jax_forward, random_clips, relative_error, torch_classifier_input,
                                 torch_forward)

FRAMES, CROP = 5, 32
GEOMETRY = ['--num_frames', str(FRAMES), '--crop_size', str(CROP)]


@pytest.fixture(scope='module')
def videomae_torch() -> torch.nn.Module:
  return torch_reference.randomize(torch_reference.build('videomae_b', FRAMES, CROP))


@pytest.fixture(scope='module')
def hf_checkpoint(videomae_torch, tmp_path_factory) -> str:
  """A Hugging Face style `model.safetensors`: `videomae.`-prefixed, with a K400 classifier."""
  state = {k: v.contiguous() for k, v in videomae_torch.state_dict().items()}
  state['classifier.weight'] = torch.zeros(400, 768)
  state['classifier.bias'] = torch.zeros(400)
  path = tmp_path_factory.mktemp('hf') / 'model.safetensors'
  save_file(state, str(path))
  return str(path)


def _abstract(name: str, **shape) -> nnx.Module:
  """Encoder `name` for 'features' without values: what it computes after `restore_encoder` comes
  from the folder alone (and random initialisation would compile each initialiser)."""
  return nnx.eval_shape(lambda: registry.get(name).build(output='features', rngs=nnx.Rngs(1),
                                                         **shape))


def test_convert_then_restore_matches_torch(videomae_torch, hf_checkpoint, tmp_path):
  out = tmp_path / 'videomae'
  assert main(['--encoder', 'videomae_b', '--checkpoint', hf_checkpoint, '--output', str(out),
               '--output_mode', 'features', *GEOMETRY]) == 0
  info = json.loads((out / pretrained.INFO_FILE).read_text())
  assert info == {'encoder': 'videomae_b', 'output_mode': 'features', 'num_frames': FRAMES,
                  'crop_size': CROP, 'source': os.path.abspath(hf_checkpoint)}
  model = _abstract('videomae_b', num_frames=FRAMES, crop_size=CROP)
  pretrained.restore_encoder(model, out)
  clips = random_clips(2, FRAMES, CROP)
  assert relative_error(jax_forward(model, clips), torch_forward(videomae_torch, clips)) <= 1e-4


def _convert_pyth(source: torch.nn.Module, encoder: str, tmp_path, *flags: str):
  """Saves `source` as a pytorchvideo `.pyth` (`{'model_state': ..., 'epoch': ...}`) and converts
  it for 'features'; returns the output folder."""
  checkpoint = tmp_path / f'{encoder}.pyth'
  torch.save({'model_state': source.state_dict(), 'epoch': 200}, checkpoint)
  out = tmp_path / encoder
  assert main(['--encoder', encoder, '--checkpoint', str(checkpoint), '--output', str(out),
               '--output_mode', 'features', *flags]) == 0
  return out


def test_pytorchvideo_checkpoint_with_8_temporal_positions(tmp_path):
  """A `.pyth` holding `model_state`, temporal table of the 16x4 checkpoint (8), converted for
  5 frames (3 tokens) without the head."""
  source = torch_reference.mvit('mvit_base_16x4', temporal_size=16, spatial_size=CROP)
  out = _convert_pyth(source, 'mvit_b_16x4', tmp_path, *GEOMETRY)
  model = nnx.eval_shape(lambda: mvit.MViT(output='features', rngs=nnx.Rngs(0),
                                           num_frames=FRAMES, crop_size=CROP))
  pretrained.restore_encoder(model, out)
  table = source.cls_positional_encoding.pos_embed_temporal.detach().numpy()[0]
  np.testing.assert_allclose(model.pos_embed_temporal.get_value(),
                             mvit.resample_positions(table, 3))
  np.testing.assert_array_equal(model.blocks[15].mlp.fc2.kernel.get_value(),
                                source.blocks[15].mlp.fc2.weight.detach().numpy().T)


def test_cnn_pytorchvideo_checkpoint_matches_torch(tmp_path):
  """A CNN through the same command: X3D-XS `.pyth`, 'features' (the classifier's input, pooled),
  BatchNorm statistics drawn."""
  torch.manual_seed(0)
  source = torch_reference.randomize(torch_reference.build('x3d_xs', FRAMES, CROP))
  out = _convert_pyth(source, 'x3d_xs', tmp_path)
  info = json.loads((out / pretrained.INFO_FILE).read_text())
  assert info == {'encoder': 'x3d_xs', 'output_mode': 'features',
                  'source': str(tmp_path / 'x3d_xs.pyth')}  # CNNs take any clip geometry
  model = _abstract('x3d_xs')
  pretrained.restore_encoder(model, out)
  clips = random_clips(2, FRAMES, CROP)
  evaluation = nnx.view(model, deterministic=True, use_running_average=True,
                        raise_if_not_found=False)  # no dropout without the classifier
  assert relative_error(jax_forward(evaluation, clips),
                        torch_classifier_input(source, clips)) <= 1e-4


class Evil:
  """A pickled object that `weights_only=True` must refuse to rebuild."""

  def __reduce__(self):
    return (os.system, ('echo should-never-run',))


def _error_of(argv, capsys) -> str:
  assert main(argv) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ')
  return lines[0]


def test_missing_checkpoint(tmp_path, capsys):
  missing = str(tmp_path / 'nope.pth')
  assert 'no such checkpoint' in _error_of(
      ['--encoder', 'videomae_b', '--checkpoint', missing, '--output', str(tmp_path / 'o')], capsys)


def test_unknown_encoder(hf_checkpoint, tmp_path, capsys):
  assert "unknown video encoder 'vit_huge'" in _error_of(
      ['--encoder', 'vit_huge', '--checkpoint', hf_checkpoint, '--output', str(tmp_path)], capsys)


def test_pickled_code_is_refused(tmp_path, capsys):
  checkpoint = tmp_path / 'evil.pth'
  torch.save({'model_state': {'w': torch.zeros(1)}, 'payload': Evil()}, checkpoint)
  assert 'refused to load' in _error_of(
      ['--encoder', 'videomae_b', '--checkpoint', str(checkpoint), '--output', str(tmp_path / 'o')],
      capsys)


def test_checkpoint_of_another_model(tmp_path, capsys):
  checkpoint = tmp_path / 'mvit.pyth'
  torch.save({'model_state': {'cls_positional_encoding.cls_token': torch.zeros(1, 1, 96)}},
             checkpoint)
  assert 'unexpected tensor cls_positional_encoding.cls_token' in _error_of(
      ['--encoder', 'videomae_b', '--checkpoint', str(checkpoint), '--output', str(tmp_path / 'o')],
      capsys)


def test_restore_is_strict(tmp_path):
  """A features-mode folder lacks the head a 'head' module needs."""
  build = lambda output: nnx.eval_shape(
      lambda: mvit.MViT(output=output, rngs=nnx.Rngs(0), num_frames=1, crop_size=16))
  model, features = build('head'), build('features')
  for _, var in nnx.to_flat_state(nnx.state(features, nnx.Param)):
    var.set_value(np.zeros(var.get_value().shape, np.float32))
  pretrained.save_encoder(features, tmp_path / 'f', {'encoder': 'mvit_b_16x4'})
  with pytest.raises(JaxlensError, match=r'no value for parameter\(s\) head.bias, head.kernel'):
    pretrained.restore_encoder(model, tmp_path / 'f')
  with pytest.raises(JaxlensError, match='not a converted encoder'):
    pretrained.restore_encoder(model, tmp_path)


def test_command_line_exit_status(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'jaxlens.convert', '--encoder', 'videomae_b', '--checkpoint',
       str(tmp_path / 'missing.bin'), '--output', str(tmp_path / 'o')],
      capture_output=True, text=True, check=False,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert result.returncode == 2
  assert result.stderr.strip() == f'error: {tmp_path / "missing.bin"}: no such checkpoint'
