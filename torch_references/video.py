"""The PyTorch originals of the video encoders, by registry name, for parity tests and benchmarks.

Imports torch lazily: jaxlens itself never needs it. Each reference is built with random weights
(`pretrained=False`, nothing is downloaded), takes channels-first clips (N, 3, T, H, W) as the
reference code feeds them, and returns the same output as the jaxlens encoder in 'head' mode.
Where the reference's head pool kernel is the whole 7x7 map at 224 pixels, the kernel here covers
the final map at the requested size. VideoMAE's reference is `VideoMAEModel` behind a small module
that takes the same clips and mean-pools the last hidden states, as the reference pipeline does;
its state dict keeps the `videomae.` prefix of Hugging Face checkpoints. Other families add theirs
with `@register('name')`.
"""

from __future__ import annotations

import math
from typing import Callable

REFERENCES: dict[str, Callable[[int, int], 'torch.nn.Module']] = {}


def register(name: str):
  """Adds `fn(frames, size) -> torch module` as the reference of encoder `name`."""

  def wrap(fn):
    REFERENCES[name] = fn
    return fn

  return wrap


def build(name: str, frames: int, size: int):
  """The reference of encoder `name` for clips of `frames` x `size` x `size`, in eval mode."""
  if name not in REFERENCES:
    raise KeyError(f'no PyTorch reference for {name!r}; known: {", ".join(sorted(REFERENCES))}')
  return REFERENCES[name](frames, size).eval()


def final_map_size(size: int, halvings: int = 5) -> int:
  """Spatial size after the stride-2 steps of a stride-32 network (each rounds up)."""
  for _ in range(halvings):
    size = math.ceil(size / 2)
  return size


def slow_frames(frames: int) -> int:
  """Time steps of the SlowFast slow pathway: every 4th frame (the fusion conv's stride)."""
  return (frames - 1) // 4 + 1


@register('r3d_18')
def _r3d_18(frames: int, size: int):
  del frames, size  # adaptive pooling
  import torch  # pylint: disable=g-import-not-at-top
  from torchvision.models.video import r3d_18  # pylint: disable=g-import-not-at-top
  model = r3d_18(weights=None)
  model.fc = torch.nn.Identity()  # the reference replaces fc: its output is the pooled 512-d
  return model


def _avg_pool(kernel: tuple[int, int, int]):
  import torch  # pylint: disable=g-import-not-at-top
  return torch.nn.AvgPool3d(kernel, stride=1)


def _resnet_hub(hub_name: str):

  def make(frames: int, size: int):
    del frames
    from pytorchvideo.models import hub  # pylint: disable=g-import-not-at-top
    side = final_map_size(size)
    model = getattr(hub, hub_name)(pretrained=False)
    model.blocks[-1].pool = _avg_pool((1, side, side))
    return model

  return make


for _name in ('c2d_r50', 'i3d_r50', 'slow_r50', 'r2plus1d_r50', 'csn_r101'):
  register(_name)(_resnet_hub(_name))


def _slowfast_hub(hub_name: str):

  def make(frames: int, size: int):
    from pytorchvideo.models import hub  # pylint: disable=g-import-not-at-top
    side = final_map_size(size)
    slow = slow_frames(frames)
    model = getattr(hub, hub_name)(pretrained=False)
    pools = model.blocks[-2].pool
    pools[0] = _avg_pool((1, side, side))
    pools[1] = _avg_pool((frames - slow + 1, side, side))
    # The reference feeds [frames 0 and 4, all 5 frames]; every 4th frame generalises it.
    model.register_forward_pre_hook(lambda module, args: ([args[0][:, :, ::4], args[0]],))
    return model

  return make


register('slowfast_r50')(_slowfast_hub('slowfast_r50'))
register('slowfast_r101')(_slowfast_hub('slowfast_16x8_r101_50_50'))


def _x3d(depth_factor: float):

  def make(frames: int, size: int):
    del frames
    from pytorchvideo.models.x3d import create_x3d  # pylint: disable=g-import-not-at-top
    # The vendored hub defaults input_clip_length=1, so the head pool keeps every time step.
    return create_x3d(input_clip_length=1, input_crop_size=size, depth_factor=depth_factor)

  return make


for _name in ('x3d_xs', 'x3d_s', 'x3d_m'):
  register(_name)(_x3d(2.2))
register('x3d_l')(_x3d(5.0))


def mvit(hub_name: str, temporal_size: int, spatial_size: int):
  """pytorchvideo's MViT-B (`mvit_base_16x4`/`mvit_base_32x3`) with position tables of
  `temporal_size // 2` time steps and `spatial_size` pixels, 400 classes, random weights."""
  from pytorchvideo.models.hub import vision_transformers  # pylint: disable=g-import-not-at-top
  return getattr(vision_transformers, hub_name)(
      pretrained=False, temporal_size=temporal_size, spatial_size=spatial_size,
      head_num_classes=400)


def _mvit(hub_name: str):

  def make(frames: int, size: int):
    from jaxlens.models.video.mvit import token_grid  # pylint: disable=g-import-not-at-top
    # pytorchvideo sizes its temporal table as temporal_size // 2; 5 frames give 3 tokens.
    return mvit(hub_name, 2 * token_grid(frames, size)[0], size)

  return make


register('mvit_b_16x4')(_mvit('mvit_base_16x4'))
register('mvit_b_32x3')(_mvit('mvit_base_32x3'))


@register('videomae_b')
def _videomae_b(frames: int, size: int):
  import torch  # pylint: disable=g-import-not-at-top
  from transformers import VideoMAEConfig, VideoMAEModel  # pylint: disable=g-import-not-at-top

  class PooledVideoMAE(torch.nn.Module):
    """(N, 3, T, H, W) -> mean of `VideoMAEModel`'s last hidden states (N, 768)."""

    def __init__(self):
      super().__init__()
      self.videomae = VideoMAEModel(VideoMAEConfig(num_frames=frames, image_size=size))

    def forward(self, clips):
      return self.videomae(clips.permute(0, 2, 1, 3, 4)).last_hidden_state.mean(1)

  return PooledVideoMAE()


def channels_first(clips):
  """jaxlens clips (N, T, H, W, 3), numpy -> the references' torch input (N, 3, T, H, W)."""
  import torch  # pylint: disable=g-import-not-at-top
  return torch.from_numpy(clips).permute(0, 4, 1, 2, 3).contiguous()


def state_dict(model) -> dict:
  """A torch module's state dict as numpy arrays (copies), the input of `from_torch`."""
  return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def randomize_batch_norm(model):
  """Draws BatchNorm3d statistics and affine parameters away from 0/1, so that eval-mode
  BatchNorm is really exercised by a comparison; returns the model."""
  import torch  # pylint: disable=g-import-not-at-top
  with torch.no_grad():
    for module in model.modules():
      if isinstance(module, torch.nn.BatchNorm3d):
        module.running_mean.uniform_(-0.5, 0.5)
        module.running_var.uniform_(0.5, 2.0)
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-0.2, 0.2)
  return model


def perturb(model, scale: float = 0.02, seed: int = 0):
  """Adds noise to every parameter (so LayerNorm scales/biases are not 1/0 and a swapped tensor
  would show); returns the model in eval mode."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  with torch.no_grad():
    for p in model.parameters():
      p.add_(scale * torch.randn_like(p))
  return model.eval()
