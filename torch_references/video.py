"""The PyTorch originals of the video encoders, by registry name, for parity tests and benchmarks.

Each reference is the model the paper ran: the upstream constructor (pytorchvideo 0.1.5,
torchvision, transformers) with random weights (`pretrained=False`, nothing is downloaded), the
keywords the reference's `Code/VideoRec/SASRec/main.py` passes, and the edits of the pytorchvideo
it vendors (`Code/VideoRec/SASRec/pytorchvideo_rs/pytorchvideo/`, cited as `vendored/`), each
reproduced where it is cited. `build(name)` makes it for the paper's 5 x 224 x 224 clips; for other
clip sizes, a head pool that covers the whole 7x7 final map at 224 pixels covers the final map at
that size. References take channels-first clips (N, 3, T, H, W), as the reference's wrappers
(`model/video_encoders.py`) feed them, and return the jaxlens encoder's 'head' output. VideoMAE's
reference is `VideoMAEModel` behind a small module that takes the same clips and mean-pools the
last hidden states, as the reference pipeline does; its state dict keeps the `videomae.` prefix of
Hugging Face checkpoints. Imports torch lazily: jaxlens itself never needs it. Other families add
theirs with `@register('name')`.
"""

from __future__ import annotations

import math
from typing import Callable

REFERENCES: dict[str, Callable[[int, int], 'torch.nn.Module']] = {}
PAPER_FRAMES, PAPER_SIZE = 5, 224  # [N, 5, 3, 224, 224] as the reference's utils/dataset.py


def register(name: str):
  """Adds `fn(frames, size) -> torch module` as the reference of encoder `name`."""

  def wrap(fn):
    REFERENCES[name] = fn
    return fn

  return wrap


def build(name: str, frames: int = PAPER_FRAMES, size: int = PAPER_SIZE):
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
  model = r3d_18(weights=None)  # main.py:165
  # video_encoders.py:33 replaces fc by the projection: the encoder's output is the pooled 512-d.
  model.fc = torch.nn.Identity()
  return model


def _avg_pool(kernel: tuple[int, int, int]):
  """The head pool pytorchvideo builds for `head_pool_kernel_size=kernel` (stride 1, no padding)."""
  import torch  # pylint: disable=g-import-not-at-top
  return torch.nn.AvgPool3d(kernel, stride=1)


def _resnet_hub(hub_name: str):

  def make(frames: int, size: int):
    del frames
    from pytorchvideo.models import hub  # pylint: disable=g-import-not-at-top
    side = final_map_size(size)
    model = getattr(hub, hub_name)(pretrained=False)
    # Head pool (1, 7, 7): main.py:168/171/174 pass it to r2plus1d_r50/c2d_r50/i3d_r50,
    # vendored/models/hub/resnet.py:67 (slow_r50) and hub/csn.py:45 (csn_r101) hard-code it.
    # R(2+1)D keeps its head's Softmax (vendored/models/r2plus1d.py:173).
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
    # Head pools ((1, 7, 7), (4, 7, 7)): main.py:213 passes them to slowfast_r50,
    # vendored/models/hub/slowfast.py:145 hard-codes them for slowfast_16x8_r101_50_50.
    pools = model.blocks[-2].pool
    pools[0] = _avg_pool((1, side, side))
    pools[1] = _avg_pool((frames - slow + 1, side, side))
    # video_encoders.py:290-293 feed [frames 0 and 4, all 5 frames]; every 4th frame generalises.
    model.register_forward_pre_hook(lambda module, args: ([args[0][:, :, ::4], args[0]],))
    return model

  return make


register('slowfast_r50')(_slowfast_hub('slowfast_r50'))
register('slowfast_r101')(_slowfast_hub('slowfast_16x8_r101_50_50'))


def _x3d(depth_factor: float):

  def make(frames: int, size: int):
    del frames
    from pytorchvideo.models.x3d import create_x3d  # pylint: disable=g-import-not-at-top
    # vendored/models/x3d.py:541-542 default input_clip_length=1, input_crop_size=224, with which
    # 0.1.5 computes the head pool (1, 7, 7) that :720 hard-codes (so the head keeps every time
    # step); :575 defaults head_activation=None: raw logits, where 0.1.5 has a Softmax.
    return create_x3d(input_clip_length=1, input_crop_size=size, depth_factor=depth_factor,
                      head_activation=None)

  return make


for _name in ('x3d_xs', 'x3d_s', 'x3d_m'):
  register(_name)(_x3d(2.2))
register('x3d_l')(_x3d(5.0))


def mvit(hub_name: str, temporal_size: int, spatial_size: int):
  """pytorchvideo's MViT-B (`mvit_base_16x4`/`mvit_base_32x3`) with position tables of
  `temporal_size // 2` time steps and `spatial_size` pixels, 400 classes, random weights, and the
  vendored attention-pool LayerNorms."""
  from pytorchvideo.models.hub import vision_transformers  # pylint: disable=g-import-not-at-top
  # head_num_classes=400: the reference's MViT wrappers (model/video_encoders.py) apply
  # Linear(400, D); vendored/models/vision_transformers.py:224 defaults 1000.
  model = getattr(vision_transformers, hub_name)(
      pretrained=False, temporal_size=temporal_size, spatial_size=spatial_size,
      head_num_classes=400)
  # vendored/models/vision_transformers.py:332 builds the norms after attention pooling with eps
  # 1e-6 (`attn_norm_layer`); 0.1.5's MultiScaleBlock hard-codes nn.LayerNorm (eps 1e-5).
  for block in model.blocks:
    for norm in (block.attn.norm_q, block.attn.norm_k, block.attn.norm_v):
      if norm is not None:
        norm.eps = 1e-6
  return model


def _mvit(hub_name: str):

  def make(frames: int, size: int):
    from jaxlens.models.video.mvit import token_grid  # pylint: disable=g-import-not-at-top
    # pytorchvideo sizes its temporal table as temporal_size // 2; 5 frames give 3 tokens, the
    # table of vendored/models/hub/vision_transformers.py:23,33 (temporal_size 6).
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
      # main.py:160-162: VideoMAEConfig(num_frames=5), so use_mean_pooling: no final LayerNorm.
      self.videomae = VideoMAEModel(VideoMAEConfig(num_frames=frames, image_size=size))

    def forward(self, clips):
      # video_encoders.py:19-21: the mean over all tokens.
      return self.videomae(clips.permute(0, 2, 1, 3, 4)).last_hidden_state.mean(1)

  return PooledVideoMAE()


def channels_first(clips):
  """jaxlens clips (N, T, H, W, 3), numpy -> the references' torch input (N, 3, T, H, W)."""
  import torch  # pylint: disable=g-import-not-at-top
  return torch.from_numpy(clips).permute(0, 4, 1, 2, 3).contiguous()


def state_dict(model) -> dict:
  """A torch module's state dict as numpy arrays (copies), the input of `from_torch`."""
  return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def randomize(model, seed: int = 0):
  """Draws every tensor that initialisation leaves constant, so that each one shows in the output:
  BatchNorm statistics, norm scales (pytorchvideo zeroes the last BatchNorm of every residual
  block, which would silence its convolutions) and biases (zero, as are VideoMAE's q/v biases).
  Returns the model."""
  import torch  # pylint: disable=g-import-not-at-top
  generator = torch.Generator().manual_seed(seed)
  norms = (torch.nn.BatchNorm3d, torch.nn.LayerNorm)
  with torch.no_grad():
    for module in model.modules():
      if isinstance(module, torch.nn.BatchNorm3d):
        module.running_mean.uniform_(-0.5, 0.5, generator=generator)
        module.running_var.uniform_(0.5, 2.0, generator=generator)
      if isinstance(module, norms) and module.weight is not None:
        module.weight.uniform_(0.5, 1.5, generator=generator)
    for p in model.parameters():
      if p.min() == p.max():  # any other constant: biases and zero-initialised vectors
        p.uniform_(-0.2, 0.2, generator=generator)
  return model
