r"""jaxlens aot: will a config fit the accelerators, before launching it?

  jaxlens aot --config sasrec_v --config.model.encoder.init_from=random
  jaxlens aot --config sasrec_id --users 1000000 --items 91402

Compiles the config's real train step and evaluation functions for its mesh on the devices of
this machine (simulate a pod's with XLA_FLAGS=--xla_force_host_platform_device_count=N) on
abstract inputs, without data, and prints XLA's FLOPs and per-device memory and which chips the
per-device total fits. The training batch is the worst case (every slot an item; for video towers
every slot a distinct clip unless --distinct_clips says otherwise). Sizes default to
MicroLens-100K. Memory as XLA:CPU sizes it, an estimate for TPU and GPU compilers.
"""

import sys

import jax
from absl import flags
from ml_collections import config_flags

from jaxlens import config_flag

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'A config by name (sasrec_v) or a Python file (configs/sasrec_v.py).',
    lock_config=True)
_USERS = flags.DEFINE_integer('users', 100_000, 'Users of the data set (table sizes).')
_ITEMS = flags.DEFINE_integer('items', 19_738, 'Items of the data set (table sizes).')
_DISTINCT = flags.DEFINE_integer('distinct_clips', None, 'Distinct clips per training step '
                                 '(video towers); default: every slot.')
flags.mark_flags_as_required(['config'])


def _report() -> None:
  from jaxlens.train import aot, configuration  # pylint: disable=g-import-not-at-top
  config = configuration.prepare(_CONFIG.value)
  reports = aot.compile_steps(config, users=_USERS.value, items=_ITEMS.value,
                              distinct_clips=_DISTINCT.value)
  print(f'{config.model.user_tower} + {config.model.item_tower} item tower, global batch '
        f'{config.train.batch_size}, {_USERS.value:,} users, {_ITEMS.value:,} items, '
        f'mesh data={config.mesh.data} model={config.mesh.model} over the '
        f'{jax.device_count()} {jax.devices()[0].platform} devices here')
  print('\n'.join(aot.table(reports)))


def run():
  config_flag.run(_report, _CONFIG, __doc__, sys.modules[__name__])


if __name__ == '__main__':
  run()
