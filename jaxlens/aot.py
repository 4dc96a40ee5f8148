r"""jaxlens aot: will a config fit the accelerators, and how fast could it go, before launching it?

  jaxlens aot --config sasrec_v --topology v5e:2x4
  jaxlens aot --config sasrec_v --topology v5e:2x4 --find_max_batch
  jaxlens aot --config sasrec_v --config.model.encoder.name=videomae_b --topology h100:8
  jaxlens aot --config sasrec_id --users 1000000 --items 91402

Compiles the config's real train step and evaluation functions for its mesh on abstract state and
inputs (nothing is initialised or allocated, no data is read), and prints the compiler's FLOPs,
bytes accessed and memory per device. With --topology, for a Cloud TPU slice by libtpu's own
compiler (pip install -r requirements-tpu.txt) or for GPU hosts by XLA:GPU (h100:8, h200:1;
pip install -r requirements-gpu-aot.txt), on this host, no TPU or GPU needed, with step and
epoch time estimates from the chip's published peaks: estimates, not measurements. Without it,
for this host's devices (simulate a pod's with XLA_FLAGS=--xla_force_host_platform_device_count=N;
XLA:CPU's memory figures only estimate an accelerator's). The training batch is the worst case
(every slot an item; for video towers every slot a distinct clip unless --distinct_clips says
otherwise). Sizes default to MicroLens-100K.
"""

import sys

import jax
from absl import flags
from ml_collections import config_flags

from jaxlens import config_flag

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'A config by name (sasrec_v) or a Python file (configs/sasrec_v.py).',
    lock_config=True)
_USERS = flags.DEFINE_integer('users', 100_000, 'Users of the data set (table sizes, epoch).')
_ITEMS = flags.DEFINE_integer('items', 19_738, 'Items of the data set (table sizes).')
_DISTINCT = flags.DEFINE_integer('distinct_clips', None, 'Distinct clips per training step '
                                 '(video towers); default: every slot.')
_TOPOLOGY = flags.DEFINE_string('topology', None, 'Devices to compile for: a Cloud TPU slice '
                                '(v5e:2x4, v5p:2x2x1, v6e:4x4) or a GPU host (h100:8, h200:1); '
                                'default: this host\'s devices.')
_SLICES = flags.DEFINE_integer('num_slices', 1, 'TPU slices (multi-slice) or GPU hosts of '
                               '--topology.')
_MAX_BATCH = flags.DEFINE_bool('find_max_batch', False, 'Also find the largest global batch '
                               '(config.train.batch_size) that fits, by a search over compiles '
                               'steered by the memory each needs.')
flags.mark_flags_as_required(['config'])


def _describe(config, devices) -> str:
  # pylint: disable=g-import-not-at-top
  from jaxlens import sharding
  from jaxlens.models import item_towers
  from jaxlens.train import aot
  where = (f'{_TOPOLOGY.value}' + (f' x {_SLICES.value} slices' if _SLICES.value > 1 else '')
           if _TOPOLOGY.value else 'this host')
  clips = ''
  if item_towers.REGISTRY.get(config.model.item_tower).batch_inputs:
    on_device = aot.clips_on_device(config, _ITEMS.value, sharding.make_mesh(config.mesh, devices))
    clips = (f"; clips {'on the devices' if on_device else 'decoded on the host'} "
             f'(data.clip_store={config.data.clip_store})')
  return (f'{config.model.user_tower} + {config.model.item_tower} item tower, global batch '
          f'{config.train.batch_size}, {_USERS.value:,} users, {_ITEMS.value:,} items, mesh '
          f'data={config.mesh.data} model={config.mesh.model} over the {len(devices)} '
          f'{devices[0].device_kind} devices of {where}{clips}')


def _report() -> None:
  # pylint: disable=g-import-not-at-top
  from jaxlens.train import aot, chips
  devices = (chips.topology_devices(_TOPOLOGY.value, _SLICES.value) if _TOPOLOGY.value
             else jax.devices())
  config = _prepared(devices)
  chip = chips.chip_of(devices[0])
  data = aot.worst_case_data(config, _USERS.value, _ITEMS.value)
  print(_describe(config, devices), flush=True)
  if chip is not None and chip.gpu:
    print(f'memory a program may hold per GPU: {chip.capacity_words()}', flush=True)
  try:
    reports = aot.compile_steps(config, data, distinct_clips=_DISTINCT.value, devices=devices)
  except aot.DoesNotFit as e:
    if not _MAX_BATCH.value:
      raise
    print(e, flush=True)
    # Only a train step that does not fit is known; one that fits but was followed by an
    # evaluation function that does not is compiled again for its memory.
    known = ({config.train.batch_size: aot.Compiled(False, e.needs, e.capacity)}
             if e.function == 'train step' else {})
  else:
    _print(config, data, reports, chip)
    known = {config.train.batch_size: aot.Compiled(True, reports[0].memory['total'])}
  if _MAX_BATCH.value:
    _find_max_batch(config, data, devices, known)


def _prepared(devices, batch_size: int | None = None):
  """The config resolved and checked. A pretrained encoder is compiled as a random one: weights
  do not change the shapes, and none are read (they need not be on this host)."""
  # pylint: disable=g-import-not-at-top
  from jaxlens.convert import pretrained
  from jaxlens.train import configuration
  config = _CONFIG.value.copy_and_resolve_references()
  if config.model.item_tower == 'video' and config.model.encoder.train_mode != 'scratch':
    config.model.encoder.init_from = pretrained.RANDOM_INIT
  if batch_size is not None:
    config.train.batch_size = batch_size
  return configuration.prepare(config, devices)


def _print(config, data, reports, chip) -> None:
  from jaxlens.train import aot  # pylint: disable=g-import-not-at-top
  if chip is None:
    print('\n'.join(aot.table(reports)))
  else:
    print('\n'.join(aot.chip_table(reports, chip)))
    steps = aot.steps_per_epoch(config, data)
    print(f'one epoch of {_USERS.value:,} users: {steps:,} steps, at least '
          f'{steps * reports[0].roofline_seconds(chip) / 60:.1f} min on the roofline bound. '
          'Times are the compiler\'s estimates against the chip\'s published peaks, not '
          'measurements.')


def _find_max_batch(config, data, devices, known: dict) -> None:
  """`known`: the configured batch's train step, if compiled (`aot.Compiled`)."""
  from jaxlens.train import aot  # pylint: disable=g-import-not-at-top

  def tried(batch_size: int, compiled, error) -> None:
    print(f'  batch {batch_size:,}: ' + (str(error) if error else
                                         f'fits, {compiled.needs / 2**30:.2f} GiB per device'),
          flush=True)

  best = aot.max_batch(lambda batch_size: _prepared(devices, batch_size), data, devices,
                       config.train.batch_size, known, distinct_clips=_DISTINCT.value,
                       tried=tried)
  print(f'largest global batch that fits: {best:,}' if best else
        'no batch fits (not even one user per device of the data axis)')


def run():
  config_flag.run(_report, _CONFIG, __doc__, sys.modules[__name__])


if __name__ == '__main__':
  run()
