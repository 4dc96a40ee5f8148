"""Video encoders by the names configs use (`slowfast_r50`, `x3d_s`, `videomae_b`, ...).

Each family module registers its encoders at import; `jaxlens.models.video` imports them all.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import numpy as np
from flax import nnx

from jaxlens.registry import Registry

# `from_torch(state_dict, output, *, source='checkpoint', **shape_options)`: torch state dict
# (name -> array) -> flat NNX state ('dotted.path' -> array) of the module
# `build(output=output, **shape_options)` makes, every tensor mapped; 'features' drops exactly the
# classifier's tensors; errors name `source`.
TorchConverter = Callable[..., dict[str, np.ndarray]]
PAPER_GPUS = 4  # the reference's VideoRec runs: 4 GPUs, a batch per GPU


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
  """What the rest of jaxlens needs to know about one encoder.

  `build(output=..., rngs=..., dtype=...)` returns an NNX module mapping channels-last clips
  `(N, T, H, W, 3)` to `(N, out_dim)`: `output='head'` is the reference's faithful output (the
  Kinetics classifier after its dropout, softmax for R(2+1)D; pooled tokens for VideoMAE; pooled
  features for r3d_18 whose fc the reference replaces), `output='features'` the pooled backbone
  features before any classifier. Train/eval behaviour follows NNX's `deterministic` and
  `use_running_average` attributes (`nnx.view`).
  """

  name: str
  build: Callable[..., nnx.Module]
  feature_dim: int
  head_dim: int
  # Freezing policy -> prefixes of the dotted parameter paths that train ('blocks.4', 'head').
  # 'frozen', 'FT' and 'scratch' need no entry: nothing / everything trains.
  trainable_prefixes: Mapping[str, Sequence[str]]
  from_torch: TorchConverter
  min_input: tuple[int, int, int]  # smallest (T, H, W) the architecture accepts
  paper_name: str = ''
  # The reference's batch per GPU by freezing policy, on 4 GPUs (the MicroLens repository's
  # VideoRec scripts, per encoder): what `train.batch_size=-1` resolves to.
  paper_batch_per_gpu: Mapping[str, int] = dataclasses.field(default_factory=dict)
  # Keywords of `build` that set parameter shapes (transformers: 'num_frames', 'crop_size' size
  # their position tables); `from_torch` takes the same ones to fit checkpoint tensors to them.
  shape_options: tuple[str, ...] = ()

  def shape_kwargs(self, num_frames: int, crop_size: int) -> dict[str, int]:
    """The clip geometry as keywords for `build`/`from_torch`: only those in `shape_options`."""
    given = {'num_frames': num_frames, 'crop_size': crop_size}
    return {option: given[option] for option in self.shape_options}

  def paper_batch(self, policy: str) -> int | None:
    """The paper's global batch, None where the reference never ran the pair. 'scratch' (the
    reference's TFS) falls back to the FT batch where it has no entry of its own."""
    table = self.paper_batch_per_gpu
    per_gpu = table.get(policy, table.get('FT') if policy == 'scratch' else None)
    return None if per_gpu is None else PAPER_GPUS * per_gpu

  def out_dim(self, output: str) -> int:
    return {'head': self.head_dim, 'features': self.feature_dim}[output]


_ENCODERS: Registry[EncoderSpec] = Registry('video encoder', 'config.model.encoder.name')
register, get, names = _ENCODERS.register, _ENCODERS.get, _ENCODERS.names
