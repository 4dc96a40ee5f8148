"""Ahead-of-time compilation of a config's train and evaluation steps, without data.

Compiles the real jitted functions for the configured mesh on abstract state and inputs
(`jax.ShapeDtypeStruct`s carrying shardings: nothing is initialised or allocated), for this
host's devices or a TPU topology's, and reads the compiler's cost and memory analyses, so a user
knows before launching whether a config fits a v5e, an H100 or an H200 and how fast it could
go. The training batch is the worst case: every slot holds an item (no padding), and for video
towers `distinct_clips` distinct clips (default: every slot distinct).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxlens import sharding
from jaxlens.data import pipeline, synthetic, tasks
from jaxlens.data.protocol import Interactions
from jaxlens.errors import JaxlensError
from jaxlens.models import item_towers, user_towers
from jaxlens.train import loop
from jaxlens.train.chips import CHIPS, Chip


def cost(analysis, key: str = 'flops') -> float:
  """`key` of a `cost_analysis()` result (a dict, or a list of one dict on some versions); 0
  where the compiler counts none (a program that only moves data has no 'flops')."""
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  return float((analysis or {}).get(key, 0.0))


def flops(analysis) -> float:
  return cost(analysis, 'flops')


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


class DoesNotFit(JaxlensError):
  """The compiler ran out of device memory, or the program needs more than the chip has.
  `needs` and `capacity`: the bytes per device it asked for and those the compiler allows, where
  it said (None: not said)."""

  def __init__(self, function: str, where: str, reason: str, needs: float | None = None,
               capacity: float | None = None):
    super().__init__(f'{function} does not fit {where}: {reason}')
    self.function = function
    self.needs = needs
    self.capacity = capacity


class Compiled(NamedTuple):
  """What one batch's compile said: whether it fits, the bytes per device it needs and, where
  it did not fit, those the compiler allows (None: not said)."""
  fits: bool
  needs: float | None
  capacity: float | None = None


def roofline_seconds(flops: float, bytes_accessed: float | None, chip: Chip) -> float:
  """A lower bound on a device's time: its FLOPs at the chip's peak, or its bytes at the chip's
  memory bandwidth, whichever takes longer (the FLOPs alone where the bytes are unknown)."""
  return max(flops / (chip.peak_tflops * 1e12),
             0.0 if bytes_accessed is None else bytes_accessed / (chip.hbm_gbps * 1e9))


@dataclasses.dataclass(frozen=True)
class Report:
  """What the compiler says of one function, per device."""
  function: str
  flops: float
  bytes_accessed: float | None  # None: unknown (XLA:GPU without a GPU)
  memory: dict[str, int]
  optimal_seconds: float  # XLA's cost model; not positive where it has no estimate
  global_flops: float  # the whole program's, before partitioning

  def roofline_seconds(self, chip: Chip) -> float:
    return roofline_seconds(self.flops, self.bytes_accessed, chip)

  def mfu(self, chip: Chip, seconds: float) -> float:
    return self.flops / (seconds * chip.peak_tflops * 1e12)


_OUT_OF_MEMORY = re.compile(r'(Ran out of memory[^\n]*|RESOURCE_EXHAUSTED[^\n]*)')
# libtpu refuses in one of two ways: "the total memory required for HLO temporaries (17.81G)
# exceeds available HBM (15.75G)", a figure that counts the arguments and outputs too (it grows
# one for one with them), or, laying out the buffers, "Used 15.76G of 15.75G hbm", the code
# counted as well. Both are near enough to a fitting compile's total for the search to draw one
# line through them (that total can count more than libtpu's layout holds).
_SIZE = r'(\d+(?:\.\d+)?)([KMGT])'
_REQUIRED = re.compile(r'(?:required for[^(\n]*\(|Used )' + _SIZE)
_AVAILABLE = re.compile(r'(?:available[^(\n]*\(|Used [^ ]+ of )' + _SIZE)
_BINARY_UNITS = {'K': 2**10, 'M': 2**20, 'G': 2**30, 'T': 2**40}


def _bytes(pattern: re.Pattern, message: str) -> float | None:
  found = pattern.search(message)
  return float(found.group(1)) * _BINARY_UNITS[found.group(2)] if found else None


def whole_program_cost(lowered) -> dict:
  """The cost analysis of the whole program, before partitioning. A compiler for devices that are
  not here (a TPU or GPU topology) cannot analyse it; XLA:CPU's analysis of the same HLO can."""
  try:
    analysis = lowered.cost_analysis()
  except jax.errors.JaxRuntimeError:
    # pylint: disable=g-import-not-at-top,protected-access  # no public API analyses HLO alone
    from jax._src import xla_bridge
    from jax._src.lib import _jax
    analysis = _jax.hlo_module_cost_analysis(xla_bridge.get_backend('cpu'),
                                             lowered._lowering.hlo().as_hlo_module())
  return {key: cost(analysis, key) for key in ('flops', 'bytes accessed')}


def _report(name: str, lowered, chip: Chip | None, devices: int, trips: int = 1) -> Report:
  """`trips`: how often the function runs its loop's body (the ranking's blocks of users). XLA's
  cost analysis counts that body once; the figures are scaled by `trips`, which also counts what
  runs outside the loop that often: at least the function's cost, never less."""
  try:
    compiled = lowered.compile()
  except Exception as e:  # pylint: disable=broad-except  # XlaRuntimeError, by message
    found = _OUT_OF_MEMORY.search(str(e))
    if found is None:
      raise
    raise DoesNotFit(name, chip.name if chip else 'the devices', found.group(1).strip(),
                     _bytes(_REQUIRED, found.group(1)), _bytes(_AVAILABLE, found.group(1))
                     ) from None
  used = memory(compiled)
  # libtpu refuses what its chip cannot hold (above), and its layout is the verdict: the total
  # can count more than it lays out (frozen SlowFast-r50 on a v5e-8 at 768 users: 16.28 GiB,
  # accepted). XLA:GPU compiles whatever the memory, so a GPU's share is checked here.
  if chip is not None and chip.gpu and used['total'] > chip.usable_bytes:
    raise DoesNotFit(name, chip.name, f"it needs {used['total'] / 2**30:.2f} GiB per device of "
                     f'its {chip.capacity_words()}', used['total'], chip.usable_bytes)
  whole = whole_program_cost(lowered)
  analysis = compiled.cost_analysis()
  if not analysis:
    # XLA:GPU analyses nothing without a GPU. Each device's share of the whole program's FLOPs
    # stands in (at most the device's: replicated work, such as the optimizer's update, counts
    # once); its bytes do not: counted before fusion, they are far more than any device moves,
    # so the bound rests on FLOPs alone.
    return Report(name, trips * whole['flops'] / devices, None, used, 0.0,
                  global_flops=trips * whole['flops'])
  return Report(name, trips * flops(analysis), trips * cost(analysis, 'bytes accessed'), used,
                trips * cost(analysis, 'optimal_seconds'), global_flops=trips * whole['flops'])


def worst_case_data(config, users: int, items: int) -> Interactions:
  """`users` users of `items` items, each with the longest history the config keeps."""
  return synthetic.full_length_interactions(users, items, config.data.max_seq_len)


def clips_on_device(config, num_items: int, mesh) -> bool:
  """Where a run on the mesh's devices would keep a video tower's clips: 'auto' weighs the
  table against the chip's memory (a topology's devices are not here to report theirs)."""
  chip = CHIPS.get(mesh.devices.flat[0].device_kind)
  clip_shape = (config.data.num_frames, config.data.frame_size, config.data.frame_size, 3)
  return loop.clips_on_device(config, clip_shape, num_items, mesh,
                              chip.usable_bytes if chip else None)


def compile_steps(config, data: Interactions, *, distinct_clips: int | None = None,
                  devices=None, evaluation: bool = True) -> list[Report]:
  """What the compiler says of the train step and (with `evaluation`) the evaluation functions
  of `config` (resolved and checked) for `data`'s sizes, on `devices` (default: this host's; or
  a TPU topology's). Raises `DoesNotFit` for the first function that does not fit a known
  chip."""
  devices = jax.devices() if devices is None else devices
  chip = CHIPS.get(devices[0].device_kind)
  items = data.num_items
  mesh = sharding.make_mesh(config.mesh, devices)
  rules = config.mesh.rules
  batch_sharding = sharding.batch_sharding(mesh, rules)
  video = bool(item_towers.REGISTRY.get(config.model.item_tower).batch_inputs)
  clip_shape = (config.data.num_frames, config.data.frame_size, config.data.frame_size, 3)
  on_device = video and clips_on_device(config, items, mesh)
  table = None
  if on_device:
    data_axis = sharding.mesh_axis(rules, 'batch')
    rows = pipeline.padded_length(items + 1, mesh.shape[data_axis] if data_axis else 1)
    table = jax.ShapeDtypeStruct((rows,) + clip_shape, jnp.uint8, sharding=jax.sharding.
                                 NamedSharding(mesh, jax.P(data_axis)))
  trainer = loop.build_trainer(config, data, mesh, clip_table=table, abstract=True)
  users_per_batch, slots = config.train.batch_size, config.data.max_seq_len + 1
  batch = full_batch(users_per_batch, slots, items,
                     (distinct_clips or users_per_batch * slots) if video else None,
                     loop.unique_bucket(config, mesh), trainer.loss.needs_negatives)
  structs = abstract(batch, batch_sharding, clip_shape, on_device)
  reports = [_report('train step', trainer.lower(structs, users_per_batch * (slots - 1)), chip,
                     len(devices))]
  if evaluation:
    functions = loop.build_evaluation(config, data, trainer, mesh, show_progress=False)
    for name, (lowered, trips) in functions.lower(trainer.state.model_states(),
                                                  clip_shape).items():
      reports.append(_report(name, lowered, chip, len(devices), trips))
  return reports


def largest_fitting(compile_at: Callable[[int], Compiled], start: int, multiple: int,
                    capacity: float | None = None, limit: int = 2**20,
                    known: dict[int, Compiled] | None = None) -> int:
  """The largest multiple of `multiple`, up to `limit`, that fits: `compile_at(batch)` says
  whether that batch fits and what it needs. Memory grows with the batch, nearly linearly, so
  each next batch tried is where a line reaches `capacity` (or the less that a compiler refusing
  a batch says it allows), kept inside what is still unknown: the line from the largest batch
  that fits to the smallest that does not, where the compiler said what that one needs, else
  through the two largest that fit (through zero while there is one). Doubling or bisection
  instead where there is no line, or where two tries in a row did not halve the unknown. Ends at
  a batch that fits next to one that does not (or at `limit`); 0 when not even `multiple`
  fits. `known`: batches compiled already (by a search that stopped, say), which steer the
  search as its own compiles do."""
  units = limit // multiple
  fitting: dict[int, float] = {}  # in units of `multiple`: the bytes each needs
  failing, failing_needs = units + 1, None  # the smallest known not to fit (or one past `limit`)

  def learn(size: int, compiled: Compiled) -> None:
    nonlocal failing, failing_needs, capacity
    if compiled.fits:
      fitting[size] = compiled.needs
    elif size < failing:
      failing, failing_needs = size, compiled.needs
    if compiled.capacity is not None:
      capacity = compiled.capacity if capacity is None else min(capacity, compiled.capacity)

  for batch, compiled in (known or {}).items():
    if batch % multiple == 0 and 0 < batch <= limit:
      learn(batch // multiple, compiled)
  size, bounds = min(max(1, start // multiple), units), []
  while units:
    if max(fitting, default=0) < size < failing:  # else known already
      learn(size, compile_at(size * multiple))
    good = max(fitting, default=0)
    if failing - good <= 1:
      return good * multiple
    bounds.append((good, failing))
    guess = None if _stalled(bounds, units) else _toward_capacity(
        fitting, (failing, failing_needs) if failing_needs is not None else None, capacity)
    if guess is None:
      bounds.clear()
      guess = 2 * good if failing > units else (good + failing) // 2
    size = min(max(guess, good + 1), failing - 1)
  return 0


def _toward_capacity(fitting: dict[int, float | None], failing: tuple[int, float] | None,
                     capacity: float | None) -> int | None:
  """Where memory reaches `capacity` on the line from the largest fitting size to `failing`
  (the smallest that does not fit, and what it needs), or else through the two largest fitting
  sizes (or the largest and zero); None without a rising line, or where a size that fits
  already needs more than `capacity`: then the figures do not add up to what the compiler
  lays out (libtpu accepted SlowFast-r50 on a v5p-8 at a total of 99.4 GiB of its 95.7), and
  the line would only creep a size at a time."""
  if capacity is None or not fitting or None in fitting.values():
    return None
  sizes = sorted(fitting)[-2:]
  if fitting[sizes[-1]] > capacity:
    return None
  points = ([(sizes[-1], fitting[sizes[-1]]), failing] if failing else
            [(size, fitting[size]) for size in sizes] if len(sizes) == 2 else
            [(0, 0.0), (sizes[-1], fitting[sizes[-1]])])
  (low, below), (high, above) = points
  slope = (above - below) / (high - low)
  return None if slope <= 0 else low + int((capacity - below) // slope)


def _stalled(bounds: list[tuple[int, int]], units: int) -> bool:
  """Whether the last two tries neither halved the unknown interval nor, before any batch
  failed, doubled the largest that fits."""
  if len(bounds) < 3:
    return False
  (good, failing), (earlier_good, earlier_failing) = bounds[-1], bounds[-3]
  if failing > units:
    return good < 2 * earlier_good
  return earlier_failing <= units and 2 * (failing - good) > earlier_failing - earlier_good


def fits(total_bytes: int) -> dict[str, bool]:
  return {chip.name: total_bytes <= chip.usable_bytes for chip in CHIPS.values()}


def _gib(n: float) -> str:
  return f'{n / 2**30:.2f}'


def table(reports: list[Report]) -> list[str]:
  """Markdown lines: FLOPs and memory per function, and which chips each fits (for a host's
  own devices, whose chip may be none of them)."""
  names = [chip.name for chip in CHIPS.values()]
  lines = ['| function | TFLOP (global) | TFLOP/device | argument GiB | temp GiB | '
           'total GiB/device | ' + ' | '.join(names) + ' |',
           '|---|---:|---:|---:|---:|---:|' + '---|' * len(names)]
  for r in reports:
    m = r.memory
    lines.append(f'| {r.function} | {r.global_flops / 1e12:.3f} | {r.flops / 1e12:.3f} | '
                 f"{_gib(m['argument'])} | {_gib(m['temp'])} | {_gib(m['total'])} | " +
                 ' | '.join('yes' if ok else 'no' for ok in fits(m['total']).values()) + ' |')
  return lines


def chip_table(reports: list[Report], chip: Chip) -> list[str]:
  """Markdown lines per function: the memory a chip holds, and the step time the compiler's
  figures allow (the roofline bound, a lower bound; XLA's cost model where it has one) with the
  MFU each implies."""
  lines = ['| function | TFLOP/chip | GB accessed/chip | HBM GiB/chip | arguments | '
           f'temporaries | of {chip.usable_bytes / 2**30:.0f} GiB | step ≥ ms (roofline) | '
           'MFU ≤ | cost model ms | MFU at cost model |', '|---|' + '---:|' * 10]
  for r in reports:
    m, bound = r.memory, r.roofline_seconds(chip)
    model = (f'{r.optimal_seconds * 1e3:.2f} | {r.mfu(chip, r.optimal_seconds):.0%}'
             if r.optimal_seconds > 0 else '– | –')
    lines.append(
        f'| {r.function} | {r.flops / 1e12:.3g} | '
        f"{'–' if r.bytes_accessed is None else f'{r.bytes_accessed / 1e9:.3g}'} | "
        f"{_gib(m['total'])} | {_gib(m['argument'])} | {_gib(m['temp'])} | "
        f"{m['total'] / chip.usable_bytes:.0%} | {bound * 1e3:.2f} | {r.mfu(chip, bound):.0%} | "
        f'{model} |')
  return lines


def steps_per_epoch(config, data: Interactions) -> int:
  task = tasks.get(user_towers.REGISTRY.get(config.model.user_tower).task)
  return pipeline.steps_per_epoch(len(task.rows(data)), config.train.batch_size)


def max_batch(config_of: Callable[[int], object], data: Interactions, devices, start: int,
              known: dict[int, Compiled] | None = None, *,
              distinct_clips: int | None = None,
              tried: Callable[[int, Compiled, DoesNotFit | None], None] = (
                  lambda batch, compiled, error: None)) -> int:
  """The largest global batch whose train step fits (`largest_fitting` over train-step
  compiles, in multiples of the data axis, steered by the memory each needs). `config_of(batch)`:
  the config, resolved and checked, at that batch; `known`: batches compiled already, which
  steer the search as its own compiles do; `tried` hears of each compile (and its `DoesNotFit`,
  or None)."""
  known = dict(known or {})

  def compile_at(batch: int) -> Compiled:
    if batch not in known:
      try:
        train = compile_steps(config_of(batch), data, distinct_clips=distinct_clips,
                              devices=devices, evaluation=False)[0]  # evaluation: own batches
      except DoesNotFit as e:
        known[batch] = Compiled(False, e.needs, e.capacity)
        tried(batch, known[batch], e)
      else:
        known[batch] = Compiled(True, train.memory['total'])
        tried(batch, known[batch], None)
    return known[batch]

  config = config_of(start)
  multiple = sharding.axis_size(sharding.make_mesh(config.mesh, devices), config.mesh.rules,
                                'batch')
  chip = CHIPS.get(devices[0].device_kind)
  return largest_fitting(compile_at, start, multiple, chip.usable_bytes if chip else None,
                         limit=data.num_users, known=known)
