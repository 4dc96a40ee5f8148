"""X3D's and CSN's depthwise convolutions: each platform's form, and both against PyTorch's.

XLA:CPU runs a grouped 3D convolution slowly, so on CPU it is a shift-and-add; TPUs and GPUs run
the native convolution. The choice is made when the step is lowered, for the platform it is
lowered for, so a TPU program compiled on a CPU host (`jaxlens aot --topology`) is the one a TPU
runs. Both forms are checked against `torch.nn.functional.conv3d(groups=C)`, values and
gradients (float32, relative error <= 1e-5).
"""

import numpy as np
import pytest
import torch

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
from flax import nnx

from jaxlens.models.video.layers import Conv3d
from tests.video_helpers import relative_error

# pylint: enable=g-import-not-at-top,wrong-import-position

CHANNELS = 6
TOLERANCE = 1e-5


def _depthwise(stride) -> Conv3d:
  return Conv3d(CHANNELS, CHANNELS, 3, stride, groups=CHANNELS, rngs=nnx.Rngs(0))


def _layer_loss(conv: Conv3d, x):
  return jnp.sum(conv(x) ** 2)


@pytest.mark.parametrize('platform,native', [('cpu', False), ('tpu', True), ('cuda', True)])
def test_the_lowered_step_has_the_form_of_the_platform_it_is_lowered_for(platform, native):
  conv = _depthwise((1, 2, 2))
  graphdef, state = nnx.split(conv)
  grad = jax.jit(jax.grad(lambda state, x: _layer_loss(nnx.merge(graphdef, state), x),
                          argnums=(0, 1)))
  x = jax.ShapeDtypeStruct((2, 5, 12, 12, CHANNELS), jnp.float32)
  module = jax.export.export(grad, platforms=[platform])(state, x).mlir_module()
  assert (f'feature_group_count = {CHANNELS}' in module) == native
  assert ('stablehlo.convolution' in module) == native


@pytest.mark.parametrize('stride', [(1, 1, 1), (1, 2, 2)])
def test_both_forms_equal_pytorchs_grouped_convolution(stride):
  conv = _depthwise(stride)
  rng = np.random.default_rng(0)
  x = rng.standard_normal((2, 5, 12, 12, CHANNELS)).astype(np.float32)
  kernel = np.asarray(conv.kernel[...])

  x_torch = torch.tensor(x.transpose(0, 4, 1, 2, 3), requires_grad=True)
  kernel_torch = torch.tensor(kernel.transpose(4, 3, 0, 1, 2), requires_grad=True)
  expected = torch.sum(torch.nn.functional.conv3d(
      x_torch, kernel_torch, stride=stride, padding=1, groups=CHANNELS) ** 2)
  expected.backward()
  expected_grads = (x_torch.grad.numpy().transpose(0, 2, 3, 4, 1),
                    kernel_torch.grad.numpy().transpose(2, 3, 4, 1, 0))

  value, (grad_layer, grad_x) = nnx.jit(nnx.value_and_grad(_layer_loss, argnums=(0, 1)))(
      conv, x)  # on CPU: the shift-and-add
  native = lambda x, kernel: jnp.sum(conv._convolution(x, kernel) ** 2)  # pylint: disable=protected-access
  native_value, native_grads = jax.jit(jax.value_and_grad(native, argnums=(0, 1)))(x, kernel)
  for form, (value, grads) in {
      'shift-and-add': (value, (grad_x, grad_layer['kernel'][...])),
      'native': (native_value, native_grads)}.items():
    assert relative_error(value, expected.item()) <= TOLERANCE, form
    for grad, expected_grad in zip(grads, expected_grads):
      assert relative_error(grad, expected_grad) <= TOLERANCE, form
