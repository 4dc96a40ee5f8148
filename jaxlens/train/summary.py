"""TensorBoard summaries, written by the main process only."""

from __future__ import annotations

import os


class Summary:

  def __init__(self, workdir: str, enabled: bool):
    self._writer = None
    if enabled:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._writer = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def scalars(self, step: int, values: dict[str, float]) -> None:
    if self._writer is not None:
      for name, value in values.items():
        self._writer.add_scalar(name, value, step)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
