"""Range checks for config values, each failure one `JaxlensError` line naming the key.

Every numeric key of every config is checked by one of these before any data is read: the
general keys in `jaxlens.train.configuration`, a part's own keys in the `check` of its
registration. NaN and infinities fail every check.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from jaxlens.errors import JaxlensError


def get(config, key: str) -> Any:
  """`config.model.grcn.layers` as `get(config, 'model.grcn.layers')`."""
  value = config
  for part in key.split('.'):
    value = value[part]
  return value


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def integer(config, key: str, minimum: int = 1, *, special: Sequence[int] = (),
            meaning: str = '') -> int:
  """An integer of at least `minimum`; `special` values (e.g. -1: "the rest") are allowed too,
  and `meaning` says what they mean in the error."""
  value = get(config, key)
  if not _is_int(value) or (value < minimum and value not in special):
    floor = {0: 'at least 0', 1: 'a positive integer'}.get(minimum, f'an integer >= {minimum}')
    raise JaxlensError(f'config.{key}={value!r} must be {floor}' +
                       (f' ({meaning})' if meaning else ''))
  return value


def real(config, key: str, minimum: float = 0.0, *, above: bool = False,
         below: float | None = None) -> float:
  """A finite number, at least `minimum` (or above it), and below `below` when given."""
  value = get(config, key)
  too_low = _is_real(value) and (value <= minimum if above else value < minimum)
  too_high = _is_real(value) and below is not None and value >= below
  if not _is_real(value) or too_low or too_high:
    low = f'{"above" if above else "at least"} {minimum:g}'
    high = f' and below {below:g}' if below is not None else ''
    raise JaxlensError(f'config.{key}={value!r} must be a finite number {low}{high}')
  return float(value)


def positive(config, key: str) -> float:
  """A finite number above 0 (learning rates)."""
  return real(config, key, 0.0, above=True)


def fraction(config, key: str) -> float:
  """A share in [0, 1) (dropout rates)."""
  return real(config, key, 0.0, below=1.0)


def integers(config, key: str, minimum: int = 1, *, increasing: bool = False,
             nonempty: bool = True) -> tuple[int, ...]:
  """A sequence of integers of at least `minimum` (widths, ks, bin edges)."""
  values = get(config, key)
  ok = (isinstance(values, (tuple, list)) and (values or not nonempty)
        and all(_is_int(v) and v >= minimum for v in values)
        and (not increasing or all(a < b for a, b in zip(values, values[1:]))))
  if not ok:
    what = 'positive integers' if minimum == 1 else f'integers >= {minimum}'
    raise JaxlensError(f'config.{key}={values!r} must be {"increasing " if increasing else ""}'
                       f'{what}')
  return tuple(values)


def choice(config, key: str, choices: Sequence[str]) -> str:
  value = get(config, key)
  if value not in choices:
    raise JaxlensError(f'config.{key}={value!r}; choose one of {", ".join(choices)}')
  return value
