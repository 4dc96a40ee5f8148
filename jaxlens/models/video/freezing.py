"""The paper's freezing policies (frozen, topT, halfT, FT, scratch) as predicates over paths.

The reference froze "the first N tensors of named_parameters()" (`Code/VideoRec/SASRec/main.py`,
N per encoder and policy in `run_video.py`); jaxlens names the trained stages instead, so a
policy reads as what it is (`topT` of SlowFast-r50 = res5 of both pathways + head).
"""

from __future__ import annotations

from typing import Callable

from jaxlens.models.video.torch_mapping import dotted
from jaxlens.errors import JaxlensError
from jaxlens.models.video.registry import EncoderSpec

POLICIES = ('frozen', 'topT', 'halfT', 'FT', 'scratch')


def trainable_predicate(spec: EncoderSpec, policy: str) -> Callable[[tuple], bool]:
  """Returns `is_trainable(path)` for encoder-relative parameter paths."""
  if policy not in POLICIES:
    raise JaxlensError(f'unknown train_mode {policy!r}; choose one of {", ".join(POLICIES)}')
  if policy == 'frozen':
    return lambda path: False
  if policy in ('FT', 'scratch'):
    return lambda path: True
  if policy not in spec.trainable_prefixes:
    raise JaxlensError(f'encoder {spec.name!r} has no {policy!r} policy')
  prefixes = tuple(spec.trainable_prefixes[policy])

  def is_trainable(path: tuple) -> bool:
    name = dotted(path)
    return any(name == p or name.startswith(p + '.') for p in prefixes)

  return is_trainable
