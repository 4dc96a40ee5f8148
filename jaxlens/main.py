r"""jaxlens train: trains and evaluates one config.

  jaxlens train --config sasrec_id:cpu --workdir runs/x --config.model.hidden=64
  python -m jaxlens.main --config configs/sasrec_v.py --workdir runs/x   (the same)

`--config` is a config shipped with jaxlens by name (`sasrec_v:toy`) or a Python file
(`configs/sasrec_v.py:toy`); `--config.x.y=value` overrides a key. The run ends with an exit
status (`jaxlens --help`): 0 finished, `WORKDIR/results.json` holds the test results; 1 the loss
diverged; 2 bad input or configuration, one `error:` line before any long work; 75 stopped by
SIGTERM or a preemption notice after saving a checkpoint: run the same command to resume.
"""

import sys

from jaxlens import launch

launch.prefer_onednn_convolutions()  # before JAX starts

from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxlens import config_flag  # pylint: disable=wrong-import-position

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'A config by name (sasrec_v:toy) or a Python file '
    '(configs/sasrec_v.py:toy); --config.x.y=value overrides a key.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, summaries, config.json and '
                               'results.json go here; a workdir with checkpoints resumes.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0, for a multi-process launch that JAX '
    'cannot detect by itself (TPU pods and SLURM are detected).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'With --coordinator_address.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'With --coordinator_address.')
flags.mark_flags_as_required(['config', 'workdir'])


def _ensure_data(config) -> None:
  """A built dataset must exist; the synthetic toy subset builds itself (seconds)."""
  from jaxlens.builders import subset  # pylint: disable=g-import-not-at-top
  if not config.data.pairs_path:
    subset.ensure_built(config.data.name, config.data.dir or None)


def _train() -> None:
  # Imported here: these pull in the models and Orbax, after flags are parsed.
  from jaxlens.train import loop  # pylint: disable=g-import-not-at-top
  launch.join_cluster(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value, ensure_data=_ensure_data)


def run():
  config_flag.run(_train, _CONFIG, __doc__, sys.modules[__name__])


if __name__ == '__main__':
  run()
