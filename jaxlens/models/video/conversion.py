"""From a PyTorch state dict to a video encoder's flat NNX state, by walking the encoder's layers.

Each family names its layers after the PyTorch modules and supplies `torch_name` (NNX module path
-> PyTorch module path); the layer type says which tensors it holds and how they are laid out.
Rule for the Kinetics classifier: in 'features' mode (and in both modes for r3d_18, whose fc the
reference replaces: `classifier_in_head=False`) the tensors under `classifier_prefix` are read and
dropped; any other tensor left over, missing or mis-shaped is a `JaxlensError` naming it.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

import numpy as np
from flax import nnx

from jaxlens.models.video.torch_mapping import TorchStateReader, conv_kernel, dotted, linear_kernel
from jaxlens.errors import JaxlensError
from jaxlens.models.video.layers import BatchNorm, Conv3d


def _same(x: np.ndarray) -> np.ndarray:
  return x


_BATCH_NORM = {'scale': 'weight', 'bias': 'bias', 'mean': 'running_mean', 'var': 'running_var'}


def _layer_tensors(layer: nnx.Module, src: str) -> dict[str, tuple[str, Callable]]:
  """NNX leaf -> (torch tensor name, layout transform) for one layer; {} for containers."""
  if isinstance(layer, Conv3d):
    out = {'kernel': (f'{src}.weight', conv_kernel)}
    if layer.bias is not None:
      out['bias'] = (f'{src}.bias', _same)
    return out
  if isinstance(layer, BatchNorm):
    return {leaf: (f'{src}.{name}', _same) for leaf, name in _BATCH_NORM.items()}
  if isinstance(layer, nnx.Linear):
    return {'kernel': (f'{src}.weight', linear_kernel), 'bias': (f'{src}.bias', _same)}
  return {}


def convert(module: nnx.Module, state_dict: Mapping[str, np.ndarray],
            torch_name: Callable[[str], str], dropped_prefix: str | None,
            source: str = 'checkpoint') -> dict[str, np.ndarray]:
  """Returns {'dotted.nnx.path': array} for `assign`, consuming every tensor of `state_dict`."""
  reader = TorchStateReader(state_dict, source)
  flat = {}
  for path, layer in nnx.iter_modules(module):
    name = dotted(path)
    for leaf, (tensor, layout) in _layer_tensors(layer, torch_name(name)).items():
      value = reader.take(tensor, layout)
      expected = getattr(layer, leaf).shape
      if value.shape != expected:
        raise JaxlensError(f'{source}: tensor {tensor} gives {name}.{leaf} the shape '
                           f'{value.shape}, the model expects {expected}')
      flat[f'{name}.{leaf}'] = value
  if dropped_prefix is not None:
    for name in reader.unread():
      if name.startswith(dropped_prefix + '.'):
        reader.take(name)
  reader.finish()
  return flat


def converter(build: Callable[..., nnx.Module], torch_name: Callable[[str], str],
              classifier_prefix: str, classifier_in_head: bool = True):
  """The `from_torch(state_dict, output='head')` of one encoder (see module docstring)."""

  def from_torch(state_dict: Mapping[str, np.ndarray], output: str = 'head', *,
                 source: str = 'checkpoint') -> dict[str, np.ndarray]:
    if output not in ('head', 'features'):
      raise JaxlensError(f"output must be 'head' or 'features', got {output!r}")
    module = nnx.eval_shape(lambda: build(output=output, rngs=nnx.Rngs(0)))
    dropped = classifier_prefix if output == 'features' or not classifier_in_head else None
    return convert(module, state_dict, torch_name, dropped, source)

  return from_torch


def prefix_renamer(prefixes: Mapping[str, str]) -> Callable[[str], str]:
  """NNX path -> torch path by replacing the longest matching leading component(s)."""
  pattern = re.compile(r'^(' + '|'.join(
      re.escape(p) for p in sorted(prefixes, key=len, reverse=True)) + r')(?=\.|$)')
  return lambda name: pattern.sub(lambda m: prefixes[m.group(1)], name, count=1)


def regex_renamer(rules: Sequence[tuple[str, str]]) -> Callable[[str], str]:
  """NNX path -> torch path by applying `re.sub(pattern, replacement)` rules in order."""
  compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]

  def rename(name: str) -> str:
    for pattern, replacement in compiled:
      name = pattern.sub(replacement, name)
    return name

  return rename
