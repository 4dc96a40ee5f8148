"""`tfds build` through TFDS's own command line (needs TensorFlow): the toy subset, and the
interactions of `1m` with Apache Beam.

CI runs this where `requirements-build.txt` is installed; elsewhere it is skipped.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxlens.data import pairs
from jaxlens.data import protocol
from jaxlens.data import tfds_source
from jaxlens.builders import toy
from tests import interaction_files

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec('tensorflow') is None,
    reason='the tfds command line imports TensorFlow: pip install -r requirements-build.txt (a '
           'separate venv) to run this test')


def tfds_build(*args: str) -> None:
  command = [sys.executable, '-m', 'tensorflow_datasets.scripts.cli.main', 'build', *args]
  env = dict(os.environ, PYTHONPATH=REPO)  # array_record by the builders' default
  result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]


def test_tfds_build_command_line_builds_toy(tmp_path):
  tfds_build('tfds_builders/microlens', 'tfds_builders/microlens_frames', '--config=toy',
             f'--data_dir={tmp_path}')
  histories = tfds_source.load_interactions('microlens/toy', str(tmp_path))
  expected = toy.draw_sequences(toy.ToySpec())
  assert len(histories) == len(expected)
  for got, want in zip(histories, expected):
    np.testing.assert_array_equal(got.items, want)
  items = tfds_source.ItemFrames('microlens/toy', str(tmp_path))
  assert items.frames(1).shape == (5, 224, 224, 3) and items.status(1) == 'ok'


def test_tfds_build_command_line_builds_1m_interactions_with_beam(tmp_path):
  path = interaction_files.write_generated(tmp_path / 'manual', '.csv', release='1m')
  tfds_build('tfds_builders/microlens', '--config=1m', f'--manual_dir={tmp_path / "manual"}',
             f'--data_dir={tmp_path / "tfds"}',
             '--beam_pipeline_options=direct_num_workers=2,direct_running_mode=multi_processing')
  got = tfds_source.load_protocol('microlens/1m', str(tmp_path / 'tfds'))
  want = protocol.apply_protocol(pairs.read_pairs(path))
  np.testing.assert_array_equal(got.sequences, want.sequences)
  np.testing.assert_array_equal(got.original_item_ids, want.original_item_ids)
  assert got.users == want.users
