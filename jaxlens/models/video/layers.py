"""Layers shared by the video encoders, laid out channels-last (N, T, H, W, C).

They reproduce PyTorch's semantics (explicit symmetric padding, BatchNorm eps 1e-5 and momentum
0.1, unbiased running variance) so converted checkpoints give the same numbers. Parameters are
float32; `dtype` is the compute dtype.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Triple = tuple[int, int, int]

# pytorchvideo initialises linears with N(0, 0.01).
_LINEAR_INIT = nnx.initializers.normal(0.01)

# The logical axis of every encoder kernel's output dimension. `config.mesh.rules` maps it to a
# mesh axis (('encoder_out', 'data') is FSDP) or to None (replicated, the default); vectors
# (biases, norms, positions) stay replicated. See `jaxlens.sharding`.
ENCODER_OUT = 'encoder_out'


def kernel_axes(ndim: int) -> tuple[str | None, ...]:
  return (None,) * (ndim - 1) + (ENCODER_OUT,)


def encoder_kernel_init(init, ndim: int):
  """`init` annotated with `kernel_axes`; placed on the mesh later, so encoders build anywhere."""
  return nnx.with_partitioning(init, kernel_axes(ndim), eager_sharding=False)


def kaiming_normal_fan_out(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """pytorchvideo's conv init, drawn flat: XLA:CPU compiles threefry for a rank-5 shape ~9x
  slower than for the same count flat (3.6 s vs 0.4 s per shape measured), which dominated the
  construction time of a ResNet-50."""
  fan_out = int(np.prod(shape[:-2])) * shape[-1]
  flat = jax.random.normal(key, (int(np.prod(shape)),), jnp.float32)
  return (flat * np.sqrt(2.0 / fan_out)).reshape(shape)


def triple(value: int | Sequence[int]) -> Triple:
  if isinstance(value, int):
    return (value, value, value)
  t, h, w = value
  return (t, h, w)


def _depthwise_shift_add(x: jax.Array, kernel: jax.Array, stride: Triple,
                         padding: Triple) -> jax.Array:
  """Depthwise 3D convolution as a sum of shifted, per-channel scaled copies of the input.

  XLA:CPU runs a grouped (feature_group_count = channels) 3D convolution very slowly: forward +
  backward of a 3x3x3 depthwise conv on (2, 5, 28, 28, 216) took 16.2 s against 0.8 s for this
  form (measured here). X3D's and CSN's middle convolutions are depthwise.
  """
  x = jnp.pad(x, [(0, 0)] + [(p, p) for p in padding] + [(0, 0)])
  out_shape = [(x.shape[i + 1] - kernel.shape[i]) // stride[i] + 1 for i in range(3)]
  out = None
  for offset in np.ndindex(*kernel.shape[:3]):  # kernel taps, not frames
    window = tuple(slice(o, o + s * (n - 1) + 1, s)
                   for o, s, n in zip(offset, stride, out_shape))
    term = x[(slice(None),) + window] * kernel[offset]
    out = term if out is None else out + term
  return out


class Conv3d(nnx.Module):
  """`torch.nn.Conv3d` on channels-last clips; kernel (kt, kh, kw, in / groups, out).

  A 1x1x1 convolution is a strided slice and a matrix product: XLA:CPU runs dots at matmul
  speed but 3D convolutions at under half of it, and most FLOPs of a bottleneck ResNet sit here.
  On CPU a depthwise convolution is a shift-and-add (see `_depthwise_shift_add`); on GPU/TPU it
  stays a native convolution.
  """

  def __init__(self, in_features: int, out_features: int, kernel_size: int | Sequence[int],
               stride: int | Sequence[int] = 1, padding: int | Sequence[int] | None = None,
               groups: int = 1, use_bias: bool = False, *, dtype=jnp.float32, rngs: nnx.Rngs):
    self.kernel_size = triple(kernel_size)
    self.stride = triple(stride)
    # None means PyTorch "same" for odd kernels, the convention of every encoder here.
    self.padding = tuple(k // 2 for k in self.kernel_size) if padding is None else triple(padding)
    self.groups = groups
    self.dtype = dtype
    self.kernel = nnx.Param(
        kaiming_normal_fan_out(rngs.params(),
                               self.kernel_size + (in_features // groups, out_features)),
        out_sharding=kernel_axes(5), eager_sharding=False)
    self.bias = nnx.Param(jnp.zeros((out_features,))) if use_bias else None

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.astype(self.dtype)
    kernel = self.kernel[...].astype(self.dtype)
    depthwise = self.groups > 1 and kernel.shape[-2] == 1 and self.groups == kernel.shape[-1]
    if self.kernel_size == (1, 1, 1) and self.groups == 1 and self.padding == (0, 0, 0):
      st, sh, sw = self.stride
      y = jnp.einsum('nthwc,cd->nthwd', x[:, ::st, ::sh, ::sw], kernel[0, 0, 0])
    elif depthwise:
      # Chosen when the step is lowered, for the platform it is compiled for: a TPU or GPU
      # program compiled on a CPU host (`jaxlens aot --topology`) keeps the native convolution.
      y = jax.lax.platform_dependent(
          x, kernel, cpu=lambda x, kernel: _depthwise_shift_add(
              x, kernel[..., 0, :], self.stride, self.padding),
          default=self._convolution)
    else:
      y = self._convolution(x, kernel)
    if self.bias is not None:
      y = y + self.bias[...].astype(self.dtype)
    return y

  def _convolution(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=self.stride, padding=[(p, p) for p in self.padding],
        dimension_numbers=('NDHWC', 'DHWIO', 'NDHWC'), feature_group_count=self.groups)


class BatchNorm(nnx.Module):
  """`torch.nn.BatchNorm3d` (eps 1e-5, momentum 0.1) over the last axis.

  Training mode (`use_running_average=False`) normalises with the batch statistics over all
  non-channel axes. Under `jax.jit` with the batch sharded over a mesh that mean is global, so this
  is SyncBatchNorm for free. Like PyTorch, the running variance is updated with the unbiased batch
  variance (n / (n - 1) times the one used to normalise). Statistics are computed in float32 even
  when `dtype` is bfloat16.

  `sample_mask` (set for one call by `statistics_over`) leaves samples out of the batch
  statistics: the filler clips that pad a batch's distinct items to a bucket size.
  """

  def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1,
               dtype=jnp.float32):
    self.scale = nnx.Param(jnp.ones((num_features,)))
    self.bias = nnx.Param(jnp.zeros((num_features,)))
    self.mean = nnx.BatchStat(jnp.zeros((num_features,)))
    self.var = nnx.BatchStat(jnp.ones((num_features,)))
    self.eps = eps
    self.momentum = momentum
    self.dtype = dtype
    self.use_running_average = False
    self.sample_mask = nnx.data(None)  # an array while `statistics_over` is active

  def set_view(self, use_running_average: bool | None = None):
    """Lets `nnx.view(model, use_running_average=...)` switch train/eval statistics."""
    if use_running_average is not None:
      self.use_running_average = use_running_average

  def __call__(self, x: jax.Array) -> jax.Array:
    if self.use_running_average:
      scale, shift = self.affine()
    else:
      axes = tuple(range(x.ndim - 1))
      x32 = x.astype(jnp.float32)
      if self.sample_mask is None:
        weights, count = jnp.ones((), jnp.float32), x.size // x.shape[-1]
      else:
        weights = self.sample_mask.astype(jnp.float32).reshape((-1,) + (1,) * (x.ndim - 1))
        count = jnp.sum(weights) * (x.size // (x.shape[0] * x.shape[-1]))
      mean = jnp.sum(x32 * weights, axes) / count
      var = jnp.sum(jnp.square(x32 - mean) * weights, axes) / count
      scale, shift = self.batch_affine(mean, var, count)
    return (x.astype(jnp.float32) * scale + shift).astype(self.dtype)

  def batch_affine(self, mean: jax.Array, var: jax.Array, count) -> tuple[jax.Array, jax.Array]:
    """Training mode as the map `x * scale + shift` from batch statistics over `count` samples,
    updating the running statistics: for layers that compute the statistics of samples they
    never materialise and fold the map into what follows (NFM's pairs)."""
    unbiased = var * (count / jnp.maximum(count - 1, 1))
    m = self.momentum
    self.mean[...] = (1 - m) * self.mean[...] + m * jax.lax.stop_gradient(mean)
    self.var[...] = (1 - m) * self.var[...] + m * jax.lax.stop_gradient(unbiased)
    return self._affine(mean, var)

  def _affine(self, mean: jax.Array, var: jax.Array) -> tuple[jax.Array, jax.Array]:
    scale = self.scale[...] * jax.lax.rsqrt(var + self.eps)
    return scale, self.bias[...] - mean * scale

  def affine(self) -> tuple[jax.Array, jax.Array]:
    """`(scale, shift)`: eval mode as the map `x * scale + shift` (running statistics), for
    layers that fold it into what follows."""
    return self._affine(self.mean[...], self.var[...])


@contextlib.contextmanager
def statistics_over(module: nnx.Module, sample_mask: jax.Array | None) -> Iterator[None]:
  """Within the block, every BatchNorm of `module` computes batch statistics over the samples
  where `sample_mask` is true only (None: all samples)."""
  norms = [m for _, m in nnx.iter_modules(module) if isinstance(m, BatchNorm)]
  for norm in norms:
    norm.sample_mask = sample_mask
  try:
    yield
  finally:
    for norm in norms:
      norm.sample_mask = None


class ConvNormAct(nnx.Module):
  """Conv3d, BatchNorm, optional ReLU: the unit every CNN here repeats."""

  def __init__(self, in_features: int, out_features: int, kernel_size, stride=1, padding=None,
               groups: int = 1, relu: bool = True, *, dtype=jnp.float32, rngs: nnx.Rngs):
    self.conv = Conv3d(in_features, out_features, kernel_size, stride, padding, groups,
                       dtype=dtype, rngs=rngs)
    self.norm = BatchNorm(out_features, dtype=dtype)
    self.relu = relu

  def __call__(self, x: jax.Array) -> jax.Array:
    x = self.norm(self.conv(x))
    return jax.nn.relu(x) if self.relu else x


def max_pool(x: jax.Array, kernel_size: Triple, stride: Triple, padding: Triple) -> jax.Array:
  """`torch.nn.MaxPool3d` with explicit padding (padded cells never win)."""
  return jax.lax.reduce_window(
      x, -jnp.inf, jax.lax.max, (1, *kernel_size, 1), (1, *stride, 1),
      [(0, 0)] + [(p, p) for p in padding] + [(0, 0)])


def spatial_mean(x: jax.Array) -> jax.Array:
  """(N, T, H, W, C) -> (N, T, C) in float32.

  Replaces the reference's AvgPool3d((1, 7, 7)), which covers the whole 7x7 map at 224 pixels,
  so smaller clips work too.
  """
  return jnp.mean(x.astype(jnp.float32), axis=(2, 3))


def temporal_avg_pool(x: jax.Array, kernel: int) -> jax.Array:
  """(N, T, C) -> (N, T - kernel + 1, C): AvgPool3d over time, stride 1, no padding."""
  if kernel == 1:
    return x
  summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, kernel, 1), (1, 1, 1), 'VALID')
  return summed / kernel


class KineticsClassifier(nnx.Module):
  """The 400-way head of pytorchvideo's ResNetBasicHead: dropout, projection, activation, mean.

  Applied to per-time-step pooled features (N, T, C): the projection and the optional softmax act
  on every time step, then the outputs are averaged over time, as `output_pool` does.
  """

  def __init__(self, in_features: int, num_classes: int = 400, dropout_rate: float = 0.5,
               softmax: bool = False, *, dtype=jnp.float32, rngs: nnx.Rngs):
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)
    self.proj = nnx.Linear(in_features, num_classes, dtype=dtype,
                           kernel_init=encoder_kernel_init(_LINEAR_INIT, 2), rngs=rngs)
    self.softmax = softmax

  def __call__(self, pooled: jax.Array) -> jax.Array:
    logits = self.proj(self.dropout(pooled)).astype(jnp.float32)
    if self.softmax:
      logits = jax.nn.softmax(logits, axis=-1)
    return jnp.mean(logits, axis=1)
