"""Ahead-of-time compilation of a config's train and evaluation steps, without data.

Compiles the real jitted functions for the configured mesh on abstract inputs
(`jax.ShapeDtypeStruct` carrying shardings: no batch is materialised) and reads XLA's cost and
memory analyses, so a user knows before launching whether a config fits a v5e, an H100 or an
H200. The training batch is the worst case: every slot holds an item (no padding), and for
video towers `distinct_clips` distinct clips (default: every slot distinct).
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from jaxlens import sharding
from jaxlens.data import pipeline, synthetic
from jaxlens.models import item_towers
from jaxlens.train import loop

# Accelerator memory per chip, GiB.
CHIPS = {'TPU v5e': 16, 'TPU v5p': 95, 'H100': 80, 'H200': 141}


def flops(analysis) -> float:
  """'flops' of a `cost_analysis()` result (a dict, or a list of one dict on some versions)."""
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  return float((analysis or {}).get('flops', float('nan')))


def memory(compiled) -> dict[str, int]:
  """Per-device byte counts of `compiled.memory_analysis()`; `total` = what must be resident."""
  stats = compiled.memory_analysis()
  out = {name: int(getattr(stats, f'{name}_size_in_bytes', 0))
         for name in ('argument', 'output', 'temp', 'generated_code', 'alias')}
  out['total'] = (out['argument'] + out['output'] - out['alias'] + out['temp'] +
                  out['generated_code'])
  return out


def full_batch(users: int, slots: int, num_items: int, distinct_clips: int | None,
               clip_multiple: int, negatives: bool = False) -> dict[str, np.ndarray]:
  """A batch whose `users * slots` slots all hold real items (the worst case for positions);
  with `distinct_clips`, the index arrays of that many distinct clips (rounded up to
  `clip_multiple`), shared by the slots round-robin. Item ids cycle through the catalogue, so
  the in-batch loss keeps its negatives; cost depends on counts and shapes, not on ids."""
  ids = (np.arange(users * slots) % num_items + 1).astype(np.int32).reshape(users, slots)
  batch = {pipeline.ITEM_IDS: ids, pipeline.USER_IDS: np.arange(users, dtype=np.int32)}
  if negatives:
    batch[pipeline.NEGATIVE_IDS] = np.roll(ids, 1)[:, 1:]
  if distinct_clips is not None:
    unique = pipeline.padded_length(min(distinct_clips, users * slots), clip_multiple)
    for field in [f for f in batch if f != pipeline.USER_IDS]:
      batch[pipeline.clip_index(field)] = (np.arange(batch[field].size) % unique).reshape(
          batch[field].shape).astype(np.int32)
    batch[pipeline.CLIP_MASK] = np.ones(unique, np.float32)
    batch[pipeline.CLIP_ITEMS] = np.arange(1, unique + 1, dtype=np.int32)
  return batch


def abstract(batch: dict[str, np.ndarray], batch_sharding, clip_shape, clips_on_device: bool):
  """`jax.ShapeDtypeStruct`s of `batch` with the batch sharding. The distinct clips travel as
  uint8 clips, or as ids when they live on the devices."""
  structs = {name: jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=batch_sharding)
             for name, value in batch.items()}
  ids = structs.pop(pipeline.CLIP_ITEMS, None)
  if ids is not None:
    if clips_on_device:
      structs[pipeline.CLIP_ITEMS] = ids
    else:
      structs[pipeline.CLIPS] = jax.ShapeDtypeStruct(ids.shape + tuple(clip_shape), jnp.uint8,
                                                     sharding=batch_sharding)
  return structs


def _report(name: str, lowered) -> dict:
  compiled = lowered.compile()
  return {'function': name, 'global_flops': flops(lowered.cost_analysis()),
          'device_flops': flops(compiled.cost_analysis()), 'memory': memory(compiled)}


def compile_steps(config, *, users: int, items: int, distinct_clips: int | None = None,
                  devices=None) -> list[dict]:
  """FLOPs and per-device memory of the train step and the evaluation functions of `config`
  (resolved and checked) for a catalogue of `items` items and `users` users."""
  data = synthetic.full_length_interactions(users, items, config.data.max_seq_len)
  mesh = sharding.make_mesh(config.mesh, devices)
  rules = config.mesh.rules
  batch_sharding = sharding.batch_sharding(mesh, rules)
  video = bool(item_towers.REGISTRY.get(config.model.item_tower).batch_inputs)
  clip_shape = (config.data.num_frames, config.data.frame_size, config.data.frame_size, 3)
  on_device = video and config.data.clip_store == 'device'
  table = None
  if on_device:
    data_axis = sharding.mesh_axis(rules, 'batch')
    rows = pipeline.padded_length(items + 1, mesh.shape[data_axis] if data_axis else 1)
    table = jax.ShapeDtypeStruct((rows,) + clip_shape, jnp.uint8, sharding=jax.sharding.
                                 NamedSharding(mesh, jax.P(data_axis)))
  trainer = loop.build_trainer(config, data, mesh, clip_table=table)
  users_per_batch, slots = config.train.batch_size, config.data.max_seq_len + 1
  batch = full_batch(users_per_batch, slots, items,
                     (distinct_clips or users_per_batch * slots) if video else None,
                     loop.unique_bucket(config, mesh), trainer.loss.needs_negatives)
  structs = abstract(batch, batch_sharding, clip_shape, on_device)
  reports = [_report('train step', trainer.lower(structs, users_per_batch * (slots - 1)))]
  evaluation = loop.build_evaluation(config, data, trainer, mesh, show_progress=False)
  for name, lowered in evaluation.lower(trainer.state.model_states(), clip_shape).items():
    reports.append(_report(name, lowered))
  return reports


def fits(total_bytes: int) -> dict[str, bool]:
  return {chip: total_bytes <= gib * 2**30 for chip, gib in CHIPS.items()}


def table(reports: list[dict]) -> list[str]:
  """Markdown lines: FLOPs and memory per function, and which chips each fits."""
  gib = lambda n: f'{n / 2**30:.2f}'
  lines = ['| function | TFLOP (global) | TFLOP/device | argument GiB | temp GiB | '
           'total GiB/device | ' + ' | '.join(CHIPS) + ' |',
           '|---|---:|---:|---:|---:|---:|' + '---|' * len(CHIPS)]
  for r in reports:
    m = r['memory']
    lines.append(f"| {r['function']} | {r['global_flops'] / 1e12:.3f} | "
                 f"{r['device_flops'] / 1e12:.3f} | {gib(m['argument'])} | {gib(m['temp'])} | "
                 f"{gib(m['total'])} | " + ' | '.join(
                     'yes' if ok else 'no' for ok in fits(m['total']).values()) + ' |')
  return lines
