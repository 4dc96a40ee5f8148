"""Defaults every config file starts from: the paper's ID-based SR setting (reference 2.4).

Config files in `configs/` call `base()` and set what their experiment changes, so a key that
exists in one config exists in all and `--config.x.y=...` overrides are checked against it.
Values derived from others (`train.batch_size=-1`: the paper's batch for the model) are resolved
after the command line's overrides, by `jaxlens.train.configuration.resolve`.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections

REPO_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            'configs')


def load(spec: str) -> ml_collections.ConfigDict:
  """A config file as `--config` loads it: 'configs/sasrec_v.py:toy', or a bare name
  ('sasrec_v:toy') from this repository's `configs/`."""
  path, _, arg = spec.partition(':')
  if not path.endswith('.py'):
    path = os.path.join(REPO_CONFIGS, f'{path}.py')
  module_spec = importlib.util.spec_from_file_location(
      f'jaxlens_config_{os.path.basename(path)[:-3]}', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


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
  config.data.name = 'microlens/100k'  # a TFDS dataset built with `tfds build` / jaxlens.data.build
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
  config.model.num_blocks = 2  # SASRec blocks; GRU layers; NextItNet (1,2),(4,8) pairs
  config.model.num_heads = 2
  config.model.dropout = 0.1
  config.model.dtype = 'float32'  # compute dtype; parameters stay float32
  # The CF towers (reference 6.2). DSSM: widths of its user and item MLPs (dropout, Linear,
  # BatchNorm, tanh each); () is the reference's pure matrix factorisation.
  config.model.tower_mlp = ()
  config.model.graph_layers = 1  # LightGCN propagation steps; MMGCN layers; GRCN's ID graph
  config.model.routing_iterations = 3  # GRCN: preference routing steps over the content graph
  # MMGCN, GRCN: learned item ID vectors; False is their `_V` (an item is its content alone)
  config.model.graph_item_ids = True
  # MMGCN, GRCN: the share of items left out of the graph in each training step, so that items
  # without edges (cold at evaluation) are ranked by their content (`graph.ItemDropout`)
  config.model.graph_item_dropout = 0.0
  # GRCN: each item's [ID | content] vector at unit length, so that its neighbours' messages do
  # not outscore items without edges (cold at evaluation)
  config.model.unit_item_vectors = False
  config.model.output_relu = False  # NFM: a ReLU on the score, as the reference (scores >= 0)
  # GRU4Rec: RecBole's Linear(D, D) with bias after the GRU; the reference has none.
  config.model.gru4rec = ml_collections.ConfigDict({'dense': False})
  config.model.encoder = ml_collections.ConfigDict()  # the video tower's encoder
  config.model.encoder.name = 'slowfast_r50'  # jaxlens.models.video.registry names
  config.model.encoder.output = 'features'  # features | head (the reference's 400 logits)
  config.model.encoder.train_mode = 'topT'  # frozen | topT | halfT | FT | scratch
  # A folder written by `python -m jaxlens.convert`, or 'random' for a deliberately randomly
  # initialised encoder under a frozen/topT/halfT/FT policy (the paper's "OT" ablation).
  config.model.encoder.init_from = ''
  config.model.encoder.remat = False  # recompute each block in the backward pass
  # DNN layers between the encoder and the projection (the paper's Figure 5b-d over frozen
  # encoders); width 0 = the encoder's output width.
  config.model.encoder.mlp_layers = 0
  config.model.encoder.mlp_width = 0
  # BatchNorm in frozen stages: 'batch' normalises with (global) batch statistics and updates the
  # running ones, as the reference's SyncBN in train mode; 'running' keeps the pretrained ones.
  config.model.encoder.frozen_batch_norm = 'batch'
  # The `features` and `id+features` towers' frozen item-feature table (VIDRec).
  config.model.features = ml_collections.ConfigDict()
  config.model.features.path = ''  # a folder written by `python -m jaxlens.extract`
  config.model.features.modality = 'video'  # video | cover | title, as the table's note says
  # `id+features`: 'sum' e_i + W f_i (D wide each), or 'concat' [e_i | W f_i] (D/2 each: VBPR,
  # whose user vector, D wide, is then [ID part | visual preference]).
  config.model.features.combine = 'sum'
  # sha256 of the table, filled in from its note when the config is resolved: a resumed run
  # refuses a table that changed (the table is not in checkpoints).
  config.model.features.fingerprint = ''

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'in_batch'  # in_batch | full_softmax | bce
  config.loss.popularity_power = 1.0  # logQ correction of in_batch
  # in_batch negatives: 'global' (the whole global batch) or a number of rows per softmax group,
  # as text (the reference's per-GPU softmax: '120' for SlowFast-r50 topT on 4 GPUs).
  config.loss.negatives = 'global'

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
  config.eval.popularity_bins = (0, 1, 3, 10, 30, 100, 300, 1000)  # target's train count
  config.eval.history_bins = (0, 4, 6, 8, 10, 12)  # items before the target

  config.mesh = ml_collections.ConfigDict()
  config.mesh.data = -1  # -1: all devices not used by the other axes
  config.mesh.model = 1  # shards the item and user tables over their rows
  # Logical axis -> mesh axis, the one place sharding is decided (MaxText-style). Video-encoder
  # kernels are replicated; ('encoder_out', 'data') shards them FSDP-style over the batch axis.
  config.mesh.rules = (('batch', 'data'), ('items', 'model'), ('users', 'model'),
                       ('embed', None), ('encoder_out', None))
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


# Where the VIDRec configs read their feature tables (`python -m jaxlens.extract ... --out`):
# the paper's VideoMAE-B features of MicroLens-100K, and a frozen randomly initialised
# tiny_c3d's of the toy clips (README, "Frozen features (VIDRec)").
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
