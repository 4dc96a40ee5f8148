"""Reading PyTorch checkpoints safely and assigning them to NNX modules strictly.

Never runs code from a checkpoint: torch files load with `weights_only=True`, safetensors through
its numpy reader. Every tensor must land somewhere and every parameter must be filled, with the
same shape; anything else is an error that names the tensor (the reference's `strict=False`
silently loaded nothing for several encoders).
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
from flax import nnx

from jaxlens.models.video.torch_mapping import dotted, listed
from jaxlens.errors import JaxlensError


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Loads `.pyth`/`.pt`/`.pth`/`.bin` (torch) or `.safetensors` into numpy arrays."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise JaxlensError(f'{path}: no such checkpoint')
  if path.endswith('.safetensors'):
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    return dict(load_file(path))
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise JaxlensError(
        'converting PyTorch checkpoints needs torch: pip install -r requirements-test.txt'
    ) from None
  try:
    obj = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # torch raises UnpicklingError subclasses and RuntimeError here
    raise JaxlensError(
        f'{path}: refused to load: it is not a plain tensor checkpoint (weights_only=True '
        f'failed: {str(e).splitlines()[0]}). jaxlens never unpickles code from a checkpoint.'
    ) from None
  if isinstance(obj, dict) and 'model_state' in obj:  # pytorchvideo hub checkpoints
    obj = obj['model_state']
  elif isinstance(obj, dict) and 'model' in obj and isinstance(obj['model'], dict):
    obj = obj['model']
  if not isinstance(obj, dict):
    raise JaxlensError(f'{path}: expected a state dict, found {type(obj).__name__}')
  return {k: v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, 'numpy')}


def assign(module: nnx.Module, flat: Mapping[str, np.ndarray], source: str = 'checkpoint'):
  """Writes `flat` ('dotted.path' -> array) into the module's Params and BatchStats, strictly."""
  targets = {
      dotted(path): var
      for path, var in nnx.to_flat_state(nnx.state(module, nnx.Any(nnx.Param, nnx.BatchStat)))
  }
  missing = sorted(set(targets) - set(flat))
  unexpected = sorted(set(flat) - set(targets))
  if missing:
    raise JaxlensError(f'{source}: no value for parameter(s) {listed(missing)}')
  if unexpected:
    raise JaxlensError(f'{source}: unexpected tensor(s) {listed(unexpected)}')
  for name, var in targets.items():
    value = np.asarray(flat[name])
    current = var.get_value()
    if value.shape != current.shape:
      raise JaxlensError(
          f'{source}: {name} has shape {value.shape}, the model expects {current.shape}')
    var.set_value(value.astype(current.dtype))
