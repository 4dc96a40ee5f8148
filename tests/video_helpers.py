"""Running a jaxlens video encoder and its PyTorch original on the same clips, and comparing."""

import numpy as np
import torch
from flax import nnx

import torch_references.video as torch_reference


def random_clips(batch: int, frames: int, size: int, seed: int = 0) -> np.ndarray:
  """Channels-last float32 clips (batch, frames, size, size, 3) of standard normal noise."""
  return np.random.default_rng(seed).standard_normal((batch, frames, size, size, 3)).astype(
      np.float32)


def relative_error(actual, expected) -> float:
  """||actual - expected|| / ||expected||, in float64."""
  expected = np.asarray(expected, np.float64)
  return float(np.linalg.norm(np.asarray(actual, np.float64) - expected) / np.linalg.norm(expected))


@nnx.jit
def _call(model, clips):
  return model(clips)


def jax_forward(model: nnx.Module, clips) -> np.ndarray:
  """The encoder under `nnx.jit`, as float32 numpy (bf16 outputs widened)."""
  return np.asarray(_call(model, clips), np.float32)


def torch_forward(model: torch.nn.Module, clips: np.ndarray) -> np.ndarray:
  """The reference on the same channels-last clips, fed channels-first, without gradients."""
  with torch.no_grad():
    return model(torch_reference.channels_first(clips)).numpy()


def torch_classifier_input(model: torch.nn.Module, clips: np.ndarray) -> np.ndarray:
  """What a pytorchvideo CNN's classifier (`blocks[-1].proj`) reads, averaged over its positions:
  the jaxlens 'features' output."""
  captured = []
  hook = model.blocks[-1].proj.register_forward_pre_hook(
      lambda module, args: captured.append(args[0]))
  torch_forward(model, clips)
  hook.remove()
  return captured[0].mean(dim=(1, 2, 3)).numpy()
