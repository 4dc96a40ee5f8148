"""`tfds build` on the toy subset, through TFDS's own command line (needs TensorFlow).

CI runs this where `requirements-build.txt` is installed; elsewhere it is skipped.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxlens.data import tfds_source
from jaxlens.data.build import toy

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


@pytest.mark.skipif(importlib.util.find_spec('tensorflow') is None,
                    reason='the tfds command line imports TensorFlow: pip install -r '
                           'requirements-build.txt (a separate venv) to run this test')
def test_tfds_build_command_line_builds_toy(tmp_path):
  command = [sys.executable, '-m', 'tensorflow_datasets.scripts.cli.main', 'build',
             'tfds_builders/microlens', 'tfds_builders/microlens_frames', '--config=toy',
             f'--data_dir={tmp_path}']  # array_record by the builders' default
  env = dict(os.environ, PYTHONPATH=REPO)
  result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  histories = tfds_source.load_interactions('microlens/toy', str(tmp_path))
  expected = toy.draw_sequences(toy.ToySpec())
  assert len(histories) == len(expected)
  for got, want in zip(histories, expected):
    np.testing.assert_array_equal(got.items, want)
  items = tfds_source.ItemFrames('microlens/toy', str(tmp_path))
  assert items.frames(1).shape == (5, 224, 224, 3) and items.status(1) == 'ok'
