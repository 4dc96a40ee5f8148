"""The PyTorch originals of the video encoders, by registry name, for parity tests and benchmarks.

Imports torch lazily: jaxlens itself never needs it. Each reference is built with random weights
(`pretrained=False`, nothing is downloaded), takes channels-first clips (N, 3, T, H, W) as the
reference code feeds them, and returns the same output as the jaxlens encoder in 'head' mode.
Where the reference's head pool kernel is the whole 7x7 map at 224 pixels, the kernel here covers
the final map at the requested size. Other families add theirs with `@register('name')`.
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
