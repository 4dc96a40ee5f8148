"""One place where a run's config is resolved and checked, before any data is read.

- `resolve(config)`: values derived from others, after the command line's overrides
  (`train.batch_size=-1` is the paper's batch for the model: reference table 4.4 for a video
  tower, by encoder and freezing policy; the user tower's reference batch otherwise; a feature
  table's fingerprint from its note).
- `check(config, devices)`: every key and combination, each failure one `JaxlensError` line: the
  registered parts and what they declare they support, batch sizes against the mesh, the
  metric that selects the best epoch, pretrained weights against the encoder, a feature table's
  note against the config.
- `check_data(config, data)`: what needs the protocol's items (a feature table covers them).
- `check_workdir`, `check_resume`, `save`: the workdir is usable, and a resumed run's
  `config.json` agrees with the new config in everything that changes the model, the data or
  the optimisation.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

import jax
import ml_collections

from jaxlens import paths, sharding
from jaxlens.convert import pretrained
from jaxlens.data import clip_table, item_features
from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.eval import evaluators, metrics
from jaxlens.models import factory, item_towers, user_towers
from jaxlens.models.video import freezing, paper_batches
from jaxlens.models.video import registry as encoders
from jaxlens.train import checkpoint, losses

CONFIG_FILE = 'config.json'
RANDOM_INIT = 'random'
# Keys a resumed run may change: schedule length, patience, logging, evaluation batching and
# summaries, where files and devices are. Anything else changes the model, data or optimisation.
RESUMABLE_CHANGES = ('compilation_cache_dir', 'profile_steps', 'train.epochs', 'train.patience',
                     'train.log_every_steps', 'eval.batch_size', 'eval.encode_batch',
                     'eval.every_epochs', 'eval.evaluators', 'eval.popularity_bins',
                     'eval.history_bins', 'model.encoder.init_from', 'model.features.path',
                     'data.dir', 'data.loader.', 'mesh.')


def _paper_batch(config) -> int:
  if config.model.item_tower == 'video':
    encoder, policy = config.model.encoder.name, config.model.encoder.train_mode
    freezing.trainable_predicate(encoders.get(encoder), policy)  # an undefined policy raises
    batch = paper_batches.global_batch(encoder, policy)
    if batch is None:
      raise JaxlensError(f'train.batch_size=-1: the paper ran no {encoder} {policy}; '
                         'set train.batch_size')
    return batch
  return user_towers.REGISTRY.get(config.model.user_tower).paper_batch_size


def resolve(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` with its derived values filled in."""
  config = ml_collections.ConfigDict(config.to_dict())
  if config.train.batch_size == -1:
    config.train.batch_size = _paper_batch(config)
  features = config.model.features
  if features.path and item_features.is_complete(features.path):
    features.fingerprint = item_features.read_note(features.path).get('fingerprint', '')
  return config


def _positive(config, *keys: str) -> None:
  for key in keys:
    value = config
    for part in key.split('.'):
      value = value[part]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise JaxlensError(f'config.{key}={value!r} must be a positive integer')


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


def negatives_group(config) -> int:
  """Rows per in-batch softmax group; 0 for 'global' (the whole global batch)."""
  negatives = str(config.loss.negatives)
  if negatives == 'global':
    return 0
  if not negatives.isdigit() or int(negatives) <= 0:
    raise JaxlensError(f"config.loss.negatives={config.loss.negatives!r}: 'global' or a "
                       'positive number of rows per softmax group, e.g. 120')
  return int(negatives)


def _check_parts(config) -> None:
  user = user_towers.REGISTRY.get(config.model.user_tower)  # it trains with every loss
  item = item_towers.REGISTRY.get(config.model.item_tower)
  loss = losses.REGISTRY.get(config.loss.name)
  if user.needs_item_table and not item.has_table:
    with_table = [name for name in item_towers.REGISTRY.names()
                  if item_towers.REGISTRY.get(name).has_table]
    raise JaxlensError(f'config.model.user_tower={user.name!r} does not work with the '
                       f'{item.name!r} item tower: it propagates over every item\'s vector each '
                       'step, so every item would be embedded each step; use the '
                       f'{" or ".join(with_table)} item tower')
  _positive(config, 'model.hidden')
  if not 0 <= config.model.dropout < 1:
    raise JaxlensError(f'config.model.dropout={config.model.dropout!r} must be at least 0 and '
                       'below 1')
  for part in (user, item):
    if part.check is not None:
      part.check(config)
  if loss.needs_table and not item.has_table:
    usable = [name for name in losses.REGISTRY.names()
              if not losses.REGISTRY.get(name).needs_table]
    raise JaxlensError(f'config.loss.name={loss.name!r} does not work with the '
                       f'{item.name!r} item tower: {loss.why_table}; use {" or ".join(usable)}')
  group = negatives_group(config)
  if group and loss.name != 'in_batch':
    raise JaxlensError('config.loss.negatives applies to the in_batch loss only')
  if group and config.train.batch_size % group:
    raise JaxlensError(f'config.loss.negatives={config.loss.negatives!r} does not divide '
                       f'config.train.batch_size={config.train.batch_size}: the rows of each '
                       'step must form whole groups')
  factory.dtype_of(config.model.dtype)
  factory.dtype_of(config.eval.dtype, 'config.eval.dtype')
  if config.optim.schedule not in ('constant', 'cosine'):
    raise JaxlensError(f'config.optim.schedule={config.optim.schedule!r}; choose constant or '
                       'cosine')


def _check_encoder(config) -> None:
  encoder = config.model.encoder
  if config.model.item_tower != 'video':
    if encoder.init_from:
      raise JaxlensError(f'config.model.encoder.init_from={encoder.init_from!r} is set, but '
                         f'the {config.model.item_tower!r} item tower has no video encoder')
    return
  spec = encoders.get(encoder.name)
  freezing.trainable_predicate(spec, encoder.train_mode)  # an undefined policy raises
  if encoder.train_mode == 'scratch':
    if encoder.init_from:
      raise JaxlensError(f"config.model.encoder.train_mode='scratch' trains from random "
                         f'weights, but init_from={encoder.init_from!r} is set; use FT to '
                         'fine-tune loaded weights')
    return
  if not encoder.init_from:
    raise JaxlensError(
        f'config.model.encoder.train_mode={encoder.train_mode!r} needs pretrained weights: set '
        'model.encoder.init_from to a folder from python -m jaxlens.convert, or '
        f"init_from='{RANDOM_INIT}' to train a randomly initialised encoder on purpose "
        "(the paper's OT ablation)")
  if encoder.init_from == RANDOM_INIT:
    return
  pretrained.check_info(encoder.init_from, spec, encoder.output, config.data.num_frames,
                        config.data.frame_size, asked_by='config')


def _check_features(config) -> None:
  features, tower = config.model.features, config.model.item_tower
  if features.combine not in ('sum', 'concat'):
    raise JaxlensError(f'config.model.features.combine={features.combine!r}; choose sum or '
                       'concat')
  if features.combine == 'concat' and tower != 'id+features':
    raise JaxlensError(f'config.model.features.combine=\'concat\' joins an ID embedding and a '
                       f'feature: it needs the id+features item tower, not {tower!r}')
  if features.combine == 'concat' and config.model.hidden % 2:
    raise JaxlensError(f'config.model.features.combine=\'concat\' splits model.hidden='
                       f'{config.model.hidden} in two halves: make it even')
  if not item_towers.REGISTRY.get(tower).reads_features:
    if features.path:
      raise JaxlensError(f'config.model.features.path={features.path!r} is set, but the '
                         f'{tower!r} item tower reads no feature table')
    return
  if not features.path:
    raise JaxlensError(f'config.model.item_tower={tower!r} needs config.model.features.path: a '
                       'folder written by python -m jaxlens.extract')
  note = item_features.read_note(features.path)
  if note.get('modality') != features.modality:
    raise JaxlensError(f'{features.path} holds {note.get("modality")} features, but '
                       f'config.model.features.modality={features.modality!r}')


def check_data(config, data: Interactions) -> None:
  """Raises `JaxlensError` when a part cannot serve the protocol's items."""
  if item_towers.REGISTRY.get(config.model.item_tower).reads_features:
    path = config.model.features.path
    item_features.rows_for(item_features.read_note(path), data.original_item_ids[1:], path)


def check(config, devices=None) -> None:
  """Raises `JaxlensError` for the first problem; reads no data and builds no model."""
  _positive(config, 'train.epochs', 'train.batch_size', 'train.log_every_steps',
            'eval.batch_size', 'eval.every_epochs', 'eval.encode_batch')
  _positive(config, 'data.loader.threads', 'data.loader.prefetch')
  profile_steps(config)
  if config.data.loader.worker_processes < 0:
    raise JaxlensError(f'config.data.loader.worker_processes='
                       f'{config.data.loader.worker_processes} must be 0 or more')
  if config.data.clip_store not in clip_table.STORES:
    raise JaxlensError(f'config.data.clip_store={config.data.clip_store!r}; choose one of '
                       f'{", ".join(clip_table.STORES)}')
  for key in ('mlp_layers', 'mlp_width'):
    if config.model.encoder[key] < 0:
      raise JaxlensError(f'config.model.encoder.{key}={config.model.encoder[key]} must be 0 or '
                         'more')
  if not config.optim.clip_norm >= 0:
    raise JaxlensError(f'config.optim.clip_norm={config.optim.clip_norm!r}: 0 (no clipping) or '
                       'a positive gradient norm')
  if not isinstance(config.model.graph_layers, int) or config.model.graph_layers < 0:
    raise JaxlensError(f'config.model.graph_layers={config.model.graph_layers!r} must be 0 or '
                       'more')
  if not isinstance(config.model.routing_iterations, int) or config.model.routing_iterations < 0:
    raise JaxlensError(f'config.model.routing_iterations={config.model.routing_iterations!r} '
                       'must be 0 or more')
  if not config.model.graph_item_ids and config.model.item_tower == 'id':
    raise JaxlensError('config.model.graph_item_ids=False (MMGCN_V, GRCN_V) needs an item tower '
                       "with content, not 'id'")
  dropout = config.model.graph_item_dropout
  if not 0 <= dropout < 1:
    raise JaxlensError(f'config.model.graph_item_dropout={dropout!r} must be in [0, 1)')
  if dropout and config.model.user_tower not in ('mmgcn', 'grcn'):
    raise JaxlensError(f'config.model.graph_item_dropout={dropout!r} is for the mmgcn and grcn '
                       f'user towers, not {config.model.user_tower!r}')
  if config.model.unit_item_vectors and config.model.user_tower != 'grcn':
    raise JaxlensError('config.model.unit_item_vectors=True is for the grcn user tower, not '
                       f'{config.model.user_tower!r}')
  if any(not isinstance(w, int) or w <= 0 for w in config.model.tower_mlp):
    raise JaxlensError(f'config.model.tower_mlp={config.model.tower_mlp!r} must be positive '
                       'layer widths')
  if not isinstance(config.train.patience, int) or config.train.patience < 0:
    raise JaxlensError(f'config.train.patience={config.train.patience!r}: 0 (never stop early) '
                       'or a positive number of evaluations')
  ks = tuple(config.eval.ks)
  if not ks or any(not isinstance(k, int) or k <= 0 for k in ks):
    raise JaxlensError(f'config.eval.ks={config.eval.ks!r} must be positive integers')
  if config.eval.select_metric not in metrics.names(ks):
    raise JaxlensError(f'config.eval.select_metric={config.eval.select_metric!r} is not among '
                       f'the metrics eval.ks={ks} gives: {", ".join(metrics.names(ks))}')
  for name in config.eval.evaluators:
    evaluators.REGISTRY.get(name)
  _check_parts(config)
  _check_encoder(config)
  _check_features(config)
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


def _flat(tree: Any, prefix: str = '') -> Iterator[tuple[str, Any]]:
  if isinstance(tree, dict):
    for key, value in tree.items():
      yield from _flat(value, f'{prefix}{key}.')
  else:
    yield prefix[:-1], tree


def _as_json(config) -> dict:
  return json.loads(config.to_json())


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
                     if saved.get(key) != new.get(key) and not key.startswith(RESUMABLE_CHANGES))
  if differing:
    raise JaxlensError(
        f'{workdir} holds a run of another config; it differs in ' + ', '.join(
            f'{key} ({saved.get(key)!r} -> {new.get(key)!r})' for key in differing) +
        '. Use another workdir, or the run\'s own config')


def save(config, workdir: str) -> None:
  """Writes the resolved config to `WORKDIR/config.json` (atomically)."""
  paths.write_json(paths.resolve(workdir) / CONFIG_FILE, _as_json(config))


def summary(config) -> str:
  """The resolved config, one `key = value` per line, for the start of a run."""
  return '\n'.join(f'  {key} = {value!r}' for key, value in _flat(_as_json(config)))
