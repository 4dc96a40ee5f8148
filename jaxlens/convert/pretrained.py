"""Pretrained encoder weights: from a PyTorch state dict into a module, and to and from disk.

`load_torch` is the one path from a torch state dict to a usable encoder (the conversion command,
the parity tests and the benchmark all take it). Converted weights on disk are an Orbax checkpoint
of Params/BatchStats plus a JSON note. Layout of a folder written by `jaxlens convert`
(what `config.model.encoder.init_from` points at):
  DIR/state/         Orbax `StandardCheckpointer` tree, one leaf per parameter path
  DIR/encoder.json   encoder name, output mode, clip geometry, source checkpoint
Restoring is strict: every parameter of the module must be in the checkpoint with its shape, and
nothing else may be.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from jaxlens.convert.torch_checkpoint import assign
from jaxlens import paths
from jaxlens.errors import JaxlensError

if TYPE_CHECKING:
  from jaxlens.models.video.registry import EncoderSpec

STATE_DIR = 'state'
INFO_FILE = 'encoder.json'
# `init_from` for a deliberately randomly initialised encoder (the paper's OT ablation).
RANDOM_INIT = 'random'


def load_torch(spec: EncoderSpec, state_dict: Mapping[str, np.ndarray], output: str = 'head', *,
               rngs: nnx.Rngs, dtype=jnp.float32, remat: bool = False,
               source: str = 'checkpoint', **shape_options) -> nnx.Module:
  """Builds encoder `spec` holding a PyTorch state dict's weights, without random initialisation.

  `shape_options` are the encoder's `spec.shape_options` (`spec.shape_kwargs(frames, crop)`).
  Building abstractly and assigning skips drawing ~100 random kernels, which XLA:CPU compiles one
  by one (about 10 s for a ResNet-50 here). Dropout streams are seeded from `rngs.dropout`.
  """
  flat = spec.from_torch(state_dict, output, source=source, **shape_options)
  module = nnx.eval_shape(lambda: spec.build(output=output, rngs=nnx.Rngs(0), dtype=dtype,
                                             remat=remat, **shape_options))
  assign(module, flat, source)
  for _, var in nnx.to_flat_state(nnx.state(module, nnx.RngState)):
    var.set_value(rngs.dropout() if isinstance(var, nnx.RngKey) else jnp.zeros((), jnp.uint32))
  return module


def _weights(module: nnx.Module) -> dict[str, Any]:
  """Params and BatchStats as a nested dict with string keys (Orbax wants no int keys)."""
  nested: dict[str, Any] = {}
  for path, var in nnx.to_flat_state(nnx.state(module, nnx.Any(nnx.Param, nnx.BatchStat))):
    *parents, leaf = (str(p) for p in path)
    node = nested
    for key in parents:
      node = node.setdefault(key, {})
    node[leaf] = np.asarray(var.get_value())
  return nested


def _flatten(nested: Mapping[str, Any], prefix: str = '') -> dict[str, np.ndarray]:
  flat = {}
  for key, value in nested.items():
    name = f'{prefix}{key}'
    if isinstance(value, Mapping):
      flat.update(_flatten(value, name + '.'))
    else:
      flat[name] = np.asarray(value)
  return flat


def save_encoder(module: nnx.Module, directory: str | os.PathLike, info: Mapping[str, Any]):
  """Writes the module's weights and `info` (JSON-serialisable) to a new folder."""
  directory = paths.resolve(directory)
  if (directory / STATE_DIR).exists():
    raise JaxlensError(f'{directory}: already holds a converted encoder; choose another folder')
  directory.mkdir(parents=True, exist_ok=True)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(os.fspath(directory / STATE_DIR), _weights(module))
  checkpointer.wait_until_finished()
  paths.write_json(directory / INFO_FILE, dict(info))


def read_info(directory: str | os.PathLike) -> dict[str, Any]:
  """The JSON note of a converted folder (encoder, output_mode, clip geometry, source)."""
  directory = paths.resolve(directory)
  info_file = directory / INFO_FILE
  if not ((directory / STATE_DIR).is_dir() and info_file.exists()):
    raise JaxlensError(f'{directory}: not a converted encoder (expected {STATE_DIR}/ and '
                       f'{INFO_FILE}; write one with jaxlens convert)')
  try:
    return paths.read_json(info_file)
  except (OSError, ValueError) as e:
    raise JaxlensError(f'{info_file}: unreadable ({e})') from None


def check_info(directory: str, spec: EncoderSpec, output: str, num_frames: int, crop_size: int,
               *, asked_by: str) -> None:
  """Converted weights match the encoder, output mode and clip geometry that the `asked_by`
  ('config', 'command') asks for."""
  info = read_info(directory)
  wanted = {'encoder': spec.name, 'output_mode': output,
            **spec.shape_kwargs(num_frames, crop_size)}
  differing = [f'{key} {info.get(key)!r} ({asked_by}: {value!r})'
               for key, value in wanted.items() if info.get(key) != value]
  if differing:
    raise JaxlensError(f'{directory} holds other weights than the {asked_by} asks for: '
                       + ', '.join(differing))


def restore_encoder(module: nnx.Module, directory: str | os.PathLike) -> dict[str, Any]:
  """Fills the module's Params/BatchStats from a converted folder; returns its JSON note."""
  info = read_info(directory)
  state_dir = os.fspath(paths.resolve(directory) / STATE_DIR)
  assign(module, _flatten(ocp.StandardCheckpointer().restore(state_dir)), source=str(directory))
  return info
