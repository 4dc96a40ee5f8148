"""`normalize` against torchvision's ToTensor + Normalize, on numpy and jax inputs."""

import jax.numpy as jnp
import numpy as np
import torch
from torchvision.transforms import functional as tvf

from jaxlens.data import normalize as normalize_lib


def test_matches_torchvision_on_numpy_and_jax():
  frames = np.random.default_rng(0).integers(0, 256, size=(2, 3, 8, 10, 3), dtype=np.uint8)
  chw = torch.from_numpy(frames.reshape(-1, 8, 10, 3)).permute(0, 3, 1, 2).float() / 255
  expected = tvf.normalize(chw, normalize_lib.IMAGENET_MEAN, normalize_lib.IMAGENET_STD)
  expected = expected.permute(0, 2, 3, 1).numpy().reshape(frames.shape)
  host = normalize_lib.normalize(frames)
  device = normalize_lib.normalize(jnp.asarray(frames))
  assert isinstance(host, np.ndarray) and host.dtype == np.float32
  assert isinstance(device, jnp.ndarray) and device.dtype == jnp.float32
  np.testing.assert_allclose(host, expected, rtol=0, atol=2e-6)
  np.testing.assert_allclose(np.asarray(device), expected, rtol=0, atol=2e-6)


def test_no_wrap_around_at_the_extremes():
  out = normalize_lib.normalize(np.array([[0, 0, 0], [255, 255, 255]], np.uint8), dtype=np.float64)
  mean, std = np.array(normalize_lib.IMAGENET_MEAN), np.array(normalize_lib.IMAGENET_STD)
  np.testing.assert_allclose(out, [-mean / std, (1 - mean) / std], rtol=1e-12)
