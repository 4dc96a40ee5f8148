r"""Command line: `python -m jaxlens.main --config configs/sasrec_id.py --workdir runs/x`.

Overrides follow ml_collections: `--config.model.hidden=64`, `--config.data.pairs_path=FILE`.
How a run ends, as one line and an exit status:
- 0: finished; `WORKDIR/results.json` holds the test results.
- 1: training diverged (`error: loss became nan at step N ...`); nothing after it was saved.
- 2: bad input or configuration (`error: ...`), reported before any long work.
- 75: stopped by SIGTERM or a preemption notice (in training, after saving a checkpoint): run
  the same command again to resume.
"""

import sys

from jaxlens import launch

launch.prefer_onednn_convolutions()  # before JAX starts

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app, flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxlens import logs  # pylint: disable=wrong-import-position
from jaxlens.errors import (  # pylint: disable=wrong-import-position
    PREEMPTED_EXIT_STATUS, Diverged, JaxlensError, Preempted)

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Python config file, e.g. '
                                          'configs/sasrec_id.py or configs/sasrec_id.py:cpu.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, summaries, config.json and '
                               'results.json go here; a workdir with checkpoints resumes.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0, for a multi-process launch that JAX '
    'cannot detect by itself (TPU pods and SLURM are detected).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'With --coordinator_address.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'With --coordinator_address.')
flags.mark_flags_as_required(['config', 'workdir'])


def _train(config, workdir: str) -> None:
  # Imported here: these pull in the models and Orbax, after flags are parsed.
  from jaxlens.data.build import subset  # pylint: disable=g-import-not-at-top
  from jaxlens.train import configuration, loop  # pylint: disable=g-import-not-at-top
  config = configuration.resolve(config)
  configuration.check(config)
  if jax.process_index() == 0:
    print(f'config (resolved):\n{configuration.summary(config)}', flush=True)
  if not config.data.pairs_path:  # a built dataset: the synthetic toy subset builds itself
    subset.ensure_built(config.data.name, config.data.dir or None)
  loop.train_and_evaluate(config, workdir)


def main(argv):
  del argv
  logs.quiet_terminal()
  try:
    launch.join_cluster(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    _train(_CONFIG.value, _WORKDIR.value)
  except JaxlensError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except Diverged as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  except Preempted as e:
    print(f'preempted: {e}', file=sys.stderr)
    sys.exit(PREEMPTED_EXIT_STATUS)


def _one_line(message: str) -> str:
  """The first and last lines of a multi-line error (ml_collections embeds tracebacks)."""
  lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
  return lines[0] if len(lines) == 1 else f'{lines[0]} {lines[-1]}'


def _parse_flags(argv):
  """absl's parser, with config errors (file, argument, unknown key, bad value) as one line."""
  try:
    remaining = flags.FLAGS(argv)
    _CONFIG.value.seed  # pylint: disable=pointless-statement  # config files load lazily
    return remaining
  except (flags.Error, OSError, AttributeError, TypeError, ValueError, KeyError) as e:
    cause = e if isinstance(e, KeyError) else (e.__cause__ or e.__context__)
    if isinstance(cause, KeyError):  # an override of a key that does not exist
      print(f'error: config has no key {_one_line(str(cause.args[0]))}', file=sys.stderr)
    else:
      print(f'error: {_one_line(str(e))}', file=sys.stderr)
  sys.exit(2)


def run():
  app.run(main, flags_parser=_parse_flags)


if __name__ == '__main__':
  run()
