"""Renaming and re-laying-out torch tensors for NNX, consuming each exactly once."""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from jaxlens.errors import JaxlensError


def listed(names: list[str], limit: int = 8) -> str:
  """'a, b, c' for an error message, at most `limit` names then 'and N more'."""
  more = f' and {len(names) - limit} more' if len(names) > limit else ''
  return ', '.join(names[:limit]) + more


def dotted(path: tuple) -> str:
  """An NNX state path as the dotted name converters and freezing prefixes use: 'blocks.4.conv'."""
  return '.'.join(str(p) for p in path)


def conv_kernel(w: np.ndarray) -> np.ndarray:
  """torch (O, I, *spatial) -> flax (*spatial, I, O)."""
  return np.transpose(w, tuple(range(2, w.ndim)) + (1, 0))


def linear_kernel(w: np.ndarray) -> np.ndarray:
  """torch (out, in) -> flax (in, out)."""
  return w.T


class TorchStateReader:
  """Hands out torch tensors by name and reports those left unread.

  Family converters call `take(name, transform)`; `finish()` raises if the checkpoint held
  tensors the converter never asked for, so a checkpoint of the wrong model cannot half-load.
  """

  def __init__(self, state_dict: Mapping[str, np.ndarray], source: str = 'checkpoint',
               ignore: Callable[[str], bool] = lambda name: name.endswith('num_batches_tracked')):
    self._state = {k: np.asarray(v) for k, v in state_dict.items() if not ignore(k)}
    self._used: set[str] = set()
    self.source = source

  def has(self, name: str) -> bool:
    return name in self._state

  def take(self, name: str, transform: Callable[[np.ndarray], np.ndarray] = lambda x: x):
    if name not in self._state:
      raise JaxlensError(f'{self.source}: missing tensor {name}')
    self._used.add(name)
    return transform(self._state[name])

  def unread(self) -> list[str]:
    return sorted(set(self._state) - self._used)

  def finish(self) -> None:
    left = self.unread()
    if left:
      raise JaxlensError(f'{self.source}: unexpected tensor(s) {listed(left)}')


def torch_layer_param(name: str, value: np.ndarray, source: str = 'checkpoint'):
  """Maps one `Linear`/`Conv3d`/`LayerNorm` tensor to its NNX name and layout, told by its rank.

  Transformer checkpoints hold nothing else once their few special tensors (position tables,
  tokens) are taken out, so the rank decides: 2-d weight -> `kernel` (transposed), 5-d weight ->
  conv `kernel`, 1-d weight -> norm `scale`, bias -> `bias`.
  """
  value = np.asarray(value)
  module, _, kind = name.rpartition('.')
  if kind == 'bias' and value.ndim == 1:
    return f'{module}.bias', value
  if kind == 'weight' and value.ndim == 1:
    return f'{module}.scale', value
  if kind == 'weight' and value.ndim == 2:
    return f'{module}.kernel', linear_kernel(value)
  if kind == 'weight' and value.ndim == 5:
    return f'{module}.kernel', conv_kernel(value)
  raise JaxlensError(f'{source}: unexpected tensor {name} of shape {value.shape}')
