"""The tiny toy run the serving tests share (`toy_run` in conftest.py): SASRec_V trained for one
epoch on the toy subset, once per test session."""

import contextlib
import dataclasses
import functools
import json
import os

import pytest

from jaxlens.train import loop
from tests import helpers


@dataclasses.dataclass
class ToyRun:
  workdir: str
  data_dir: str

  @property
  def results(self) -> dict:
    with open(os.path.join(self.workdir, 'results.json'), encoding='utf-8') as f:
      return json.load(f)

  @property
  def restored(self):
    from jaxlens.serving import restore  # pylint: disable=g-import-not-at-top
    if not hasattr(self, '_restored'):
      self._restored = restore.restore(self.workdir, show_progress=False)
    return self._restored

  @property
  def users(self):
    return self.restored.data.users


def train_toy_run(data_dir: str, workdir) -> None:
  """SASRec_V for one epoch on the toy subset in `data_dir`."""
  config = helpers.tiny_video_config()
  config.data.name, config.data.dir = 'microlens/toy', data_dir
  config.train.batch_size = config.eval.batch_size = config.eval.encode_batch = 64
  config.train.epochs = 1
  loop.train_and_evaluate(config, str(workdir))


@contextlib.contextmanager
def restoring_once():
  """`jaxlens.serving.restore.restore` memoised by workdir for the duration (progress bars off):
  the `jaxlens recommend`, `export` and `embed_items` calls of a test file restore each run once
  (restoring builds the model and its evaluation and, for a video tower, encodes every item's
  clips), as a service holding a run would; a run that fails to restore is tried again."""
  from jaxlens.serving import restore  # pylint: disable=g-import-not-at-top
  original = restore.restore
  once = functools.cache(lambda workdir: original(workdir, show_progress=False))
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(restore, 'restore', lambda workdir, show_progress=True: once(workdir))
    yield
