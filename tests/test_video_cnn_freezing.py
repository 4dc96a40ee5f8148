"""Freezing policies of the CNN encoders against the reference's freeze counts and torch's order.

The reference froze the first N tensors of `named_parameters()` (`Code/VideoRec/SASRec/main.py`,
N per encoder and policy in its `run_video.py`); jaxlens names the trained stages. Both must
select the same parameters: counted here against the reference encoders' trainable and total
parameters (`TABLE`, in millions, to 0.01M) and against the PyTorch original's tensors from
index N on.
"""

import functools

import numpy as np
import pytest
from flax import nnx

import jaxlens.models.video  # pylint: disable=unused-import
import torch_references.video as torch_reference
from jaxlens.models.video import registry
from jaxlens.models.video.freezing import dotted, trainable_predicate

# name: (param tensors, {policy: N}, table trainable topT M, table total M); 'head' mode.
TABLE = {
    'c2d_r50': (161, {'topT': 129}, 15.78, 24.33),
    'i3d_r50': (161, {'topT': 72}, 26.29, 28.04),
    'r2plus1d_r50': (209, {'topT': 168}, 18.15, 28.11),
    'csn_r101': (314, {'topT': 282}, 8.75, 22.21),
    'slow_r50': (161, {'topT': 129}, 21.03, 32.45),
    'x3d_xs': (314, {'topT': 226}, 3.14, 3.79),
    'x3d_s': (314, {'topT': 226}, 3.14, 3.79),
    'x3d_m': (314, {'topT': 226}, 3.14, 3.79),
    'x3d_l': (631, {'topT': 455}, 4.69, 6.15),
    'slowfast_r50': (332, {'topT': 270, 'halfT': 153}, 22.37, 34.57),
    'slowfast_r101': (638, {'topT': 576, 'halfT': 153}, 22.37, 53.77),
}
R3D18_REPLACED_FC = 512 * 512 + 512  # the reference's new fc (D = 512), in the trainable count
R3D18_K400_FC = 512 * 400 + 400


@functools.lru_cache(maxsize=None)
def _params(name: str) -> list[tuple[str, int]]:
  model = nnx.eval_shape(lambda: registry.get(name).build(output='head', rngs=nnx.Rngs(0)))
  return [(dotted(path), int(np.prod(var.get_value().shape)))
          for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param))]


def _trainable(name: str, policy: str) -> int:
  is_trainable = trainable_predicate(registry.get(name), policy)
  return sum(size for path, size in _params(name) if is_trainable(tuple(path.split('.'))))


@pytest.mark.parametrize('name', sorted(TABLE))
def test_counts_match_reference_table(name):
  tensors, _, trainable, total = TABLE[name]
  params = _params(name)
  assert len(params) == tensors
  assert abs(sum(size for _, size in params) / 1e6 - total) <= 0.005
  assert abs(_trainable(name, 'topT') / 1e6 - trainable) <= 0.005


def test_r3d18_counts_match_reference_table():
  """r3d18: ~31.4M trainable (layer3 + layer4 + the replacement fc) of 33.4M (with the K400 fc)."""
  params = _params('r3d_18')
  assert len(params) == 62 - 2  # the reference's 62 tensors include fc.weight / fc.bias
  assert round((sum(size for _, size in params) + R3D18_K400_FC) / 1e6, 1) == 33.4
  assert round((_trainable('r3d_18', 'topT') + R3D18_REPLACED_FC) / 1e6, 1) == 31.4


@pytest.mark.parametrize('name', sorted(TABLE) + ['r3d_18'])
def test_trained_stages_equal_the_references_first_n_frozen_tensors(name):
  sizes = [p.numel() for p in torch_reference.build(name).parameters()]
  cut = TABLE[name][1] if name in TABLE else {'topT': 30}
  for policy, n in cut.items():
    assert _trainable(name, policy) == sum(sizes[n:]), policy
