"""Defaults every config file starts from: the paper's ID-based SR setting.

Config files (`jaxlens/configs/`, found by name: `sasrec_v:toy`) call `base()` and set what their
experiment changes, so a key that exists in one config exists in all and `--config.x.y=...`
overrides are checked against it. The keys of each registered part (a user or item tower, a
loss, an evaluator) come from its registration, under a namespace of its own
(`config.model.grcn.layers`, `config.loss.in_batch.negatives`). Values derived from others
(`train.batch_size=-1`: the paper's batch for the model) are resolved after the command line's
overrides, by `jaxlens.train.configuration.prepare`.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections

from jaxlens.errors import JaxlensError

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs')


def config_path(spec: str, folder: str = '') -> tuple[str, str]:
  """(file, argument) of a `--config` value: a path ('configs/sasrec_v.py:toy', any folder), or
  the name of a config shipped with jaxlens ('sasrec_v:toy'; with `folder='sweeps'`, the sweep
  'table6:toy')."""
  path, _, arg = spec.partition(':')
  what = 'sweep' if folder == 'sweeps' else 'config'
  if not path.endswith('.py'):
    shipped = os.path.join(CONFIGS, folder, f'{path}.py')
    if '/' in path or not os.path.isfile(shipped):
      raise JaxlensError(f'no {what} named {path!r}: give a .py file, or one of '
                         f'{", ".join(shipped_names(folder))}')
    path = shipped
  elif not os.path.isfile(path):
    raise JaxlensError(f'{what} file {path} does not exist')
  return path, arg


def shipped_names(folder: str = '') -> list[str]:
  """The configs that ship with jaxlens, by name (`sweeps`: the sweep files)."""
  return sorted(name[:-3] for name in os.listdir(os.path.join(CONFIGS, folder))
                if name.endswith('.py') and not name.startswith('_'))


def load_module(spec: str, getter: str = 'get_config', folder: str = ''):
  """`getter(arg)` of a config (or sweep) file given as `config_path` takes it."""
  path, arg = config_path(spec, folder)
  module_spec = importlib.util.spec_from_file_location(
      f'jaxlens_config_{os.path.basename(path)[:-3]}', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return getattr(module, getter)(arg or None)


def load(spec: str) -> ml_collections.ConfigDict:
  """A config as `--config` loads it: 'configs/sasrec_v.py:toy', or a name ('sasrec_v:toy')."""
  return load_module(spec)


def part_registries():
  """The registries of parts that own config keys: user and item towers, losses, evaluators."""
  # pylint: disable=g-import-not-at-top  # the models, imported when a config is made
  from jaxlens.eval import evaluators
  from jaxlens.models import item_towers, user_towers
  from jaxlens.train import losses
  return (user_towers.REGISTRY, item_towers.REGISTRY, losses.REGISTRY, evaluators.REGISTRY)


def _add_parts(config: ml_collections.ConfigDict) -> None:
  """Every registered part's namespace with its defaults."""
  for registry in part_registries():
    section = config[registry.section]
    for spec in registry.specs():
      if spec.config and spec.config_namespace not in section:
        section[spec.config_namespace] = ml_collections.ConfigDict(dict(spec.config))


def renamed_keys() -> dict[str, list[str]]:
  """Keys of older configs -> the keys of the parts' namespaces that replaced them."""
  renamed: dict[str, list[str]] = {}
  for registry in part_registries():
    for spec in registry.specs():
      for old, new in spec.renamed.items():
        renamed.setdefault(old, []).append(
            f'{registry.section}.{spec.config_namespace}.{new}')
  return renamed


def base() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 42
  # JAX's persistent compilation cache: 'auto' = WORKDIR/compilation_cache on accelerators (a
  # resumed or rerun job skips its compiles), off on CPU; '' = off; or a folder (shared).
  config.compilation_cache_dir = 'auto'
  # 'START,N': a jax.profiler trace of N train steps from step START into WORKDIR/profile,
  # for TensorBoard's profile plugin or Perfetto; '' = none.
  config.profile_steps = ''

  config.data = ml_collections.ConfigDict()
  config.data.name = 'microlens/100k'  # a TFDS dataset built with `jaxlens build` / `tfds build`
  config.data.dir = ''  # TFDS data dir; '' = TFDS's default (~/tensorflow_datasets)
  config.data.pairs_path = ''  # a raw `*_pairs.tsv`/`.csv` file; overrides `name` when set
  config.data.max_seq_len = 10
  config.data.min_seq_len = 5
  config.data.min_item_interactions = 0  # warm-N: drop items with fewer interactions first
  # Video towers: the clips stored by the items builder, as the encoder sees them.
  config.data.num_frames = 5
  config.data.frame_size = 224
  config.data.clips_in_memory = False  # decode every item once up front (small catalogues)
  # Where a video tower's clips live: 'device' (every clip loaded once onto the devices, batches
  # carry ids), 'host' (decoded per batch), 'auto' (the devices when they fit).
  config.data.clip_store = 'auto'
  # How the host prepares batches ahead of the device (jaxlens.data.pipeline.ReadOptions).
  config.data.loader = ml_collections.ConfigDict({
      'worker_processes': 0,  # Grain mp_prefetch workers; 0 = threads in the main process
      'threads': 2,  # per process
      'prefetch': 2,  # batches prepared ahead
  })

  config.model = ml_collections.ConfigDict()
  config.model.user_tower = 'sasrec'  # jaxlens.models.user_towers names
  config.model.item_tower = 'id'  # jaxlens.models.item_towers names
  config.model.hidden = 1024
  config.model.dropout = 0.1
  config.model.dtype = 'float32'  # compute dtype; parameters stay float32

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'in_batch'  # jaxlens.train.losses names

  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 1e-4
  config.optim.weight_decay = 0.1  # decoupled (AdamW), recommender parameters only
  config.optim.clip_norm = 5.0  # global gradient-norm clipping; 0: none
  config.optim.schedule = 'constant'  # constant | cosine
  config.optim.warmup_steps = 0
  # The item tower's content part (video encoder and its projection; feature projections).
  config.optim.content_lr = 1e-4
  config.optim.content_weight_decay = 0.0

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 512  # global, over all devices and hosts; -1: the paper's
  config.train.epochs = 50
  config.train.patience = 0  # evaluations without improvement before stopping; 0 = never stop
  config.train.log_every_steps = 50

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 1024
  config.eval.ks = (10, 20)
  config.eval.select_metric = 'NDCG@10'  # picks the best checkpoint, drives early stopping
  config.eval.every_epochs = 1
  config.eval.encode_batch = 64  # clips per step when the video tower embeds every item
  config.eval.dtype = 'float32'  # item table and scores; a bf16 run is still scored in fp32
  # Summaries of the final test evaluation (jaxlens.eval.evaluators), beside HR@K / NDCG@K.
  config.eval.evaluators = ('cold', 'warm', 'popularity', 'history_length')

  config.mesh = ml_collections.ConfigDict()
  config.mesh.data = -1  # -1: all devices not used by the other axes
  config.mesh.model = 1  # shards the item and user tables over their rows
  # Logical axis -> mesh axis, the one place sharding is decided (MaxText-style). Video-encoder
  # kernels are replicated; ('encoder_out', 'data') shards them FSDP-style over the batch axis.
  config.mesh.rules = (('batch', 'data'), ('items', 'model'), ('users', 'model'),
                       ('embed', None), ('encoder_out', None))
  _add_parts(config)
  return config


def cpu_variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A laptop-sized run (the benchmark's setting): small model, bigger lr, early stopping."""
  config.model.hidden = 64
  config.model.dropout = 0.2
  config.optim.lr = 1e-3
  config.train.batch_size = 256
  config.train.patience = 10
  return config


def cf_cpu_variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The CF baselines' laptop-sized run (the benchmark's setting): D=64 and lr 1e-3; the
  paper's batch, loss, patience and everything else stay."""
  config.model.hidden = 64
  config.optim.lr = 1e-3
  return config


def variant(config: ml_collections.ConfigDict, arg: str | None, **variants):
  """Applies the variant `arg` names (`configs/x.py:cpu`); no argument: the config as is."""
  if not arg:
    return config
  if arg not in variants:
    raise ValueError(f'unknown config argument {arg!r}; known: {", ".join(variants)}')
  return variants[arg](config)


def toy_scale(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The synthetic `toy` subset at a size that trains in CPU minutes."""
  config.data.name = 'microlens/toy'
  config.model.hidden = 64
  config.model.dropout = 0.1
  config.optim.lr = config.optim.content_lr = 1e-3
  config.train.batch_size = 64
  config.train.epochs = 8
  config.train.log_every_steps = 5
  config.eval.batch_size = 256
  return config


def toy_variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The toy subset, a tiny encoder trained from scratch, small clips: CPU minutes."""
  toy_scale(config)
  config.data.num_frames = 4
  config.data.frame_size = 32
  config.data.clips_in_memory = True
  config.model.encoder.name = 'tiny_c3d'
  config.model.encoder.output = 'features'
  config.model.encoder.train_mode = 'scratch'
  config.eval.encode_batch = 128
  return config


# Where the VIDRec configs read their feature tables (`jaxlens extract ... --out`):
# the paper's VideoMAE-B features of MicroLens-100K, and a frozen randomly initialised
# tiny_c3d's of the toy clips (docs/vidrec.md).
PAPER_FEATURES = 'features/100k-videomae_b'
TOY_FEATURES = 'features/toy-tiny_c3d'


def with_features(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A VIDRec `_ID+V` model: the config's recipe with the paper's frozen video features."""
  config.model.item_tower = 'id+features'
  config.model.features.update(path=PAPER_FEATURES, modality='video')
  return config


def graph_features(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A VIDRec graph tower's `_ID+V` (MMGCN, GRCN): the graph propagates the projected frozen
  features, its own ID vectors are the ID part (`id+features` would add a second one)."""
  config.model.item_tower = 'features'
  config.model.features.update(path=PAPER_FEATURES, modality='video')
  return config


def cf_features_cpu_variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`cf_cpu_variant`, the feature projection at the recommender's learning rate."""
  cf_cpu_variant(config)
  config.optim.content_lr = config.optim.lr
  return config


def features_cpu_variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`cpu_variant`, the feature projection at the recommender's learning rate."""
  cpu_variant(config)
  config.optim.content_lr = config.optim.lr
  return config


def features_toy_variant(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`toy_scale` with the toy clips' frozen features."""
  toy_scale(config)
  config.model.features.path = TOY_FEATURES
  return config
