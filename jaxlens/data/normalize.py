"""Pixel normalisation of uint8 clips, on the host (numpy) or on the device (jax).

The intended pipeline of reference 1.5: scale to [0, 1], then ImageNet mean/std per channel.
The reference's uint8 wrap-around defect is deliberately not reproduced.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(frames_uint8: np.ndarray | jax.Array, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD, dtype=np.float32) -> np.ndarray | jax.Array:
  """`(x / 255 - mean) / std` over the last (RGB) axis; numpy in gives numpy, jax in gives jax."""
  xp = jnp if isinstance(frames_uint8, jax.Array) else np
  scale = xp.asarray(1.0 / (255.0 * np.asarray(std)), dtype)
  offset = xp.asarray(np.asarray(mean) / np.asarray(std), dtype)
  return frames_uint8.astype(dtype) * scale - offset
