"""One place where a run's config is resolved and checked, once, before any data is read.

- `prepare(config)`: `resolve` then `check`; every command that runs a config starts here.
- `resolve(config)`: values derived from others, after the command line's overrides
  (`train.batch_size=-1` is the paper's batch for the model: the video tower's per encoder and
  freezing policy, else the user tower's; each part's own derived values, such as a feature
  table's fingerprint from its note).
- `check(config, devices)`: every key and combination, each failure one `JaxlensError` line:
  keys that do not exist (an old key names its new one), numeric ranges, the registered parts
  and what each declares (its own keys' checks, what it works with), settings of parts the
  config does not use, batch sizes against the mesh, the metric that selects the best epoch.
- `check_data(config, data)`: what needs the protocol's items (a feature table covers them).
- `check_workdir`, `check_resume`, `save`, `load`: the workdir is usable, and a resumed run's
  `config.json` agrees with the new config in everything that changes the model, the data or
  the optimisation.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

import jax
import ml_collections

from jaxlens import config_values, default_config, paths, sharding
from jaxlens.data import clip_table, item_features
from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.eval import metrics
from jaxlens.models import factory, item_towers, user_towers
from jaxlens.train import checkpoint, losses

CONFIG_FILE = 'config.json'
# Keys a resumed run may change: schedule length, patience, logging, evaluation batching and
# summaries, where files and devices are (and each part's `resumable` keys). Anything else
# changes the model, data or optimisation.
RESUMABLE_CHANGES = ('compilation_cache_dir', 'profile_steps', 'train.epochs', 'train.patience',
                     'train.log_every_steps', 'eval.batch_size', 'eval.encode_batch',
                     'eval.every_epochs', 'eval.evaluators', 'data.dir', 'data.loader.', 'mesh.')


def _selected(registry, config) -> list:
  """The parts of `registry` the config uses (`model.user_tower`; every `eval.evaluators`)."""
  names = config_values.get(config, registry.config_key.removeprefix('config.'))
  return [registry.get(name) for name in ((names,) if isinstance(names, str) else names)]


def _parts(config) -> Iterator[tuple[Any, Any]]:
  """(registry, spec) of every part the config uses."""
  for registry in default_config.part_registries():
    for spec in _selected(registry, config):
      yield registry, spec


def _namespace(registry, spec) -> str:
  return f'{registry.section}.{spec.config_namespace}'


def resolve(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` with its derived values filled in."""
  config = ml_collections.ConfigDict(config.to_dict())
  if config.train.batch_size == -1:
    item = item_towers.REGISTRY.get(config.model.item_tower)
    config.train.batch_size = (item.paper_batch(config) or
                               user_towers.REGISTRY.get(config.model.user_tower).paper_batch_size)
  features = config.model.features
  reads_features = item_towers.REGISTRY.get(config.model.item_tower).reads_features
  if reads_features and features.path and item_features.is_complete(features.path):
    features.fingerprint = item_features.read_note(features.path).get('fingerprint', '')
  return config


def prepare(config: ml_collections.ConfigDict, devices=None) -> ml_collections.ConfigDict:
  """The config resolved and checked: what a run starts from."""
  config = resolve(config)
  check(config, devices)
  return config


def _check_batches(config, mesh: jax.sharding.Mesh) -> None:
  data_devices = sharding.axis_size(mesh, config.mesh.rules, 'batch')
  batches = [('train.batch_size', config.train.batch_size), ('eval.batch_size',
                                                            config.eval.batch_size)]
  if item_towers.REGISTRY.get(config.model.item_tower).batch_inputs:
    batches.append(('eval.encode_batch', config.eval.encode_batch))
  for key, value in batches:
    for count, what in ((data_devices, 'data-parallel devices'),
                        (jax.process_count(), 'JAX processes')):
      if value % count:
        raise JaxlensError(f'config.{key}={value} is not a multiple of the {count} {what}')


def profile_steps(config) -> tuple[int, int] | None:
  """(first step, number of steps) to trace, or None."""
  if not config.profile_steps:
    return None
  start, _, count = str(config.profile_steps).partition(',')
  if not (start.strip().isdigit() and count.strip().isdigit() and int(count) > 0):
    raise JaxlensError(f'config.profile_steps={config.profile_steps!r}: expected "START,N", '
                       'e.g. "10,5" (5 steps from step 10)')
  return int(start), int(count)


def compilation_cache(config, workdir: str, backend: str) -> str | None:
  """'auto': off on CPU (its compiles are short, and XLA:CPU failed to serialise the video
  step: bad_alloc); elsewhere under the workdir, or for a workdir in a bucket a local folder
  (every compile, even a tiny one, looks the cache up; a bucket makes each a round trip)."""
  if config.compilation_cache_dir == 'auto':
    if backend == 'cpu':
      return None
    return os.fspath(paths.local_companion(workdir, 'compilation_cache'))
  return config.compilation_cache_dir or None


def _flat(tree: Any, prefix: str = '') -> Iterator[tuple[str, Any]]:
  if isinstance(tree, dict):
    for key, value in tree.items():
      yield from _flat(value, f'{prefix}{key}.')
  else:
    yield prefix[:-1], tree


def _as_json(config) -> dict:
  return json.loads(config.to_json())


def _check_keys(config) -> None:
  """Every key exists in the defaults; an older config's key names the one that replaced it."""
  known = dict(_flat(_as_json(default_config.base())))
  renamed = default_config.renamed_keys()
  for key, _ in _flat(_as_json(config)):
    if key in known:
      continue
    if key in renamed:
      raise JaxlensError(f'config.{key} is now per part: ' +
                         ', '.join(f'config.{new}' for new in renamed[key]))
    raise JaxlensError(f'config.{key} is not a config key (jaxlens/default_config.py and the '
                       'parts\' registrations list them)')


def _check_unused_parts(config) -> None:
  """A part the config does not use keeps its defaults: a setting there is a mistake (a key of
  another tower than the one chosen, say)."""
  used = {_namespace(registry, spec) for registry, spec in _parts(config)}
  defaults = dict(_flat(_as_json(default_config.base())))
  for registry in default_config.part_registries():
    for spec in registry.specs():
      namespace = _namespace(registry, spec)
      if not spec.config or namespace in used:
        continue
      for key, value in _flat(_as_json(config_values.get(config, namespace)), f'{namespace}.'):
        if value != defaults[key]:
          owners = ' or '.join(f'{registry.config_key}={other.name!r}'
                               for other in registry.specs()
                               if _namespace(registry, other) == namespace)
          raise JaxlensError(f'config.{key}={value!r} is set, but it applies only with '
                             f'{owners}')


def _check_general(config) -> None:
  """The numeric keys that belong to no part."""
  config_values.integer(config, 'seed', 0)
  for key in ('data.max_seq_len', 'data.min_seq_len', 'data.num_frames', 'data.frame_size',
              'data.loader.threads', 'data.loader.prefetch', 'model.hidden', 'train.epochs',
              'train.log_every_steps', 'eval.batch_size', 'eval.every_epochs',
              'eval.encode_batch'):
    config_values.integer(config, key)
  for key in ('data.min_item_interactions', 'data.loader.worker_processes',
              'optim.warmup_steps', 'train.patience'):
    config_values.integer(config, key, 0)
  config_values.integer(config, 'train.batch_size', special=(-1,),
                        meaning="-1: the paper's batch for the model")
  for key in ('mesh.data', 'mesh.model'):
    config_values.integer(config, key, special=(-1,), meaning='-1: the devices left')
  config_values.fraction(config, 'model.dropout')
  for key in ('optim.lr', 'optim.content_lr'):
    config_values.positive(config, key)
  for key in ('optim.weight_decay', 'optim.content_weight_decay', 'optim.clip_norm'):
    config_values.real(config, key)
  config_values.choice(config, 'optim.schedule', ('constant', 'cosine'))
  config_values.choice(config, 'data.clip_store', clip_table.STORES)
  factory.dtype_of(config.model.dtype)
  factory.dtype_of(config.eval.dtype, 'config.eval.dtype')
  profile_steps(config)
  ks = config_values.integers(config, 'eval.ks')
  if config.eval.select_metric not in metrics.names(ks):
    raise JaxlensError(f'config.eval.select_metric={config.eval.select_metric!r} is not among '
                       f'the metrics eval.ks={ks} gives: {", ".join(metrics.names(ks))}')


def _check_parts(config) -> None:
  """Each part's own keys, then the combinations the parts declare they cannot serve."""
  for _, spec in _parts(config):  # an unknown name raises here
    if spec.check is not None:
      spec.check(config)
  user = user_towers.REGISTRY.get(config.model.user_tower)  # it trains with every loss
  item = item_towers.REGISTRY.get(config.model.item_tower)
  loss = losses.REGISTRY.get(config.loss.name)
  if user.needs_item_table and not item.has_table:
    with_table = [spec.name for spec in item_towers.REGISTRY.specs() if spec.has_table]
    raise JaxlensError(f'config.model.user_tower={user.name!r} does not work with the '
                       f'{item.name!r} item tower: it propagates over every item\'s vector each '
                       'step, so every item would be embedded each step; use the '
                       f'{" or ".join(with_table)} item tower')
  if loss.needs_table and not item.has_table:
    usable = [spec.name for spec in losses.REGISTRY.specs() if not spec.needs_table]
    raise JaxlensError(f'config.loss.name={loss.name!r} does not work with the '
                       f'{item.name!r} item tower: {loss.why_table}; use {" or ".join(usable)}')


def check_data(config, data: Interactions) -> None:
  """Raises `JaxlensError` when a part cannot serve the protocol's items."""
  if item_towers.REGISTRY.get(config.model.item_tower).reads_features:
    path = config.model.features.path
    item_features.rows_for(item_features.read_note(path), data.original_item_ids[1:], path)


def check(config, devices=None) -> None:
  """Raises `JaxlensError` for the first problem; reads no data and builds no model."""
  _check_keys(config)
  _check_general(config)
  _check_parts(config)
  _check_unused_parts(config)
  _check_batches(config, sharding.make_mesh(config.mesh, devices))


def check_workdir(workdir: str) -> None:
  """The workdir is a folder that can be written, or can be created; nothing is created here.
  (A bucket's permissions show at the first write.)"""
  path = paths.resolve(workdir)
  if path.exists() and not path.is_dir():
    raise JaxlensError(f'workdir {workdir} is a file, not a folder')
  if not paths.is_local(workdir):
    return
  existing = os.fspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
    raise JaxlensError(f'workdir {workdir}: {existing} is not writable')


def check_resume(config, workdir: str) -> None:
  """A workdir with a `config.json` and a committed checkpoint resumes only under a config that
  trains the same run. Without a checkpoint there is no run to resume: a start that stopped
  before its first save (an error found while building the model, a kill) never blocks the
  next one."""
  path = paths.resolve(workdir) / CONFIG_FILE
  if not path.exists() or not checkpoint.holds_a_run(workdir):
    return
  try:
    saved = dict(_flat(paths.read_json(path)))
  except (OSError, ValueError) as e:
    raise JaxlensError(f'{path}: unreadable ({e}); move it away to start over') from None
  new = dict(_flat(_as_json(config)))
  differing = sorted(key for key in saved.keys() | new.keys()
                     if saved.get(key) != new.get(key) and not key.startswith(_resumable()))
  if differing:
    raise JaxlensError(
        f'{workdir} holds a run of another config; it differs in ' + ', '.join(
            f'{key} ({saved.get(key)!r} -> {new.get(key)!r})' for key in differing) +
        '. Use another workdir, or the run\'s own config')


def _resumable() -> tuple[str, ...]:
  """`RESUMABLE_CHANGES` and every part's `resumable` keys, as key prefixes."""
  return RESUMABLE_CHANGES + tuple(
      f'{_namespace(registry, spec)}.{key}' for registry in default_config.part_registries()
      for spec in registry.specs() for key in spec.resumable)


def save(config, workdir: str) -> None:
  """Writes the resolved config to `WORKDIR/config.json` (atomically)."""
  paths.write_json(paths.resolve(workdir) / CONFIG_FILE, _as_json(config))


def load(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved (`save`), as it trained; a missing or unreadable file is
  one line."""
  path = paths.resolve(workdir) / CONFIG_FILE
  if not path.exists():
    raise JaxlensError(f'{path} does not exist: {workdir} holds no run of jaxlens train')
  try:
    return ml_collections.ConfigDict(paths.read_json(path))
  except (OSError, ValueError) as e:
    raise JaxlensError(f'{path}: unreadable ({e})') from None


def summary(config) -> str:
  """The resolved config, one `key = value` per line, for the start of a run; the namespaces of
  parts the config does not use (their defaults) are left out."""
  used = {_namespace(registry, spec) for registry, spec in _parts(config)}
  unused = tuple(f'{_namespace(registry, spec)}.' for registry in default_config.part_registries()
                 for spec in registry.specs() if spec.config and _namespace(registry, spec)
                 not in used)
  return '\n'.join(f'  {key} = {value!r}' for key, value in _flat(_as_json(config))
                   if not key.startswith(unused))
