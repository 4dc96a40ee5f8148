r"""Command line: `python -m jaxlens.main --config configs/sasrec_id.py --workdir runs/x`.

Overrides follow ml_collections: `--config.model.hidden=64`, `--config.data.pairs_path=FILE`.
Bad input is reported as one line (`error: ...`, exit status 2), never as a traceback.
"""

import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from jaxlens.errors import JaxlensError

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Python config file, e.g. '
                                          'configs/sasrec_id.py or configs/sasrec_id.py:cpu.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, summaries and results.json go here; '
                               'a workdir with checkpoints resumes.')
flags.mark_flags_as_required(['config', 'workdir'])


def _initialize_distributed() -> None:
  """Joins a multi-process job when launched as one (TPU pods, SLURM); no-op on one host."""
  try:
    jax.distributed.initialize()
  except (ValueError, RuntimeError) as e:
    logging.info('single-process run (%s)', str(e).splitlines()[0] if str(e) else e)


def main(argv):
  del argv
  _initialize_distributed()
  from jaxlens.train import loop  # pylint: disable=g-import-not-at-top
  if jax.process_index() != 0:
    logging.set_verbosity(logging.WARNING)
  try:
    loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except JaxlensError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


def run():
  app.run(main)


if __name__ == '__main__':
  run()
