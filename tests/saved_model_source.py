"""Run by tests/test_saved_model.py with the training venv's Python: a tiny trained run, its
export, and jaxlens recommend's answers for the histories argv[2:] in the folder argv[1]."""

import os
import sys

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from jaxlens import export, recommend  # noqa: E402
from jaxlens.data import synthetic  # noqa: E402
from jaxlens.train import loop  # noqa: E402
from tests import helpers  # noqa: E402

def main(folder: str, histories: list[str]) -> None:
  pairs = os.path.join(folder, 'pairs.tsv')
  helpers.write_pairs(pairs, synthetic.sequential_interactions())
  config = helpers.tiny_config()
  config.data.pairs_path, config.train.epochs = pairs, 1
  workdir = os.path.join(folder, 'run')
  loop.train_and_evaluate(config, workdir)
  assert export.main(['--workdir', workdir, '--out', os.path.join(folder, 'export')]) == 0
  for n, history in enumerate(histories):
    assert recommend.main(['--workdir', workdir, '--history', history, '--k', '10', '--out',
                           os.path.join(folder, f'history{n}.jsonl')]) == 0


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2:])
