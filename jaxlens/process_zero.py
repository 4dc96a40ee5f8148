"""Decisions about shared files that process 0 makes and every process of the job follows.

A workdir's lock, checksum checks and folders moved aside are done once for the job, by process
0; the other processes must reach the same decision (or they would restore different steps, or
some would stop while others wait at a collective), so process 0's answer is broadcast to them.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

_TEXT_BYTES = 4096


def is_zero() -> bool:
  return jax.process_index() == 0


def decides(decide: Callable[[], str | None] | None) -> str | None:
  """`decide()` run on process 0 (a text, or None), returned on every process (the others may
  pass None)."""
  if jax.process_count() == 1:
    return decide()
  buffer = np.zeros(_TEXT_BYTES + 1, np.uint8)  # [0]: 1 if there is a text
  if is_zero():
    text = decide()
    if text is not None:
      encoded = text.encode()[:_TEXT_BYTES]
      buffer[0], buffer[1:1 + len(encoded)] = 1, np.frombuffer(encoded, np.uint8)
  buffer = np.asarray(multihost_utils.broadcast_one_to_all(buffer))
  return bytes(buffer[1:]).rstrip(b'\0').decode(errors='replace') if buffer[0] else None


def acts(action: Callable[[], None], name: str) -> None:
  """`action()` on process 0, the others waiting until it is done."""
  if is_zero():
    action()
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f'jaxlens: {name}')
