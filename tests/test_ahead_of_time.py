"""The pieces of `jaxlens aot` that need no TPU or GPU compiler: state built without allocating,
worst-case data, the search for the largest batch that fits, and benchmarks/aot_fit.py's choice
of cells (tests/test_topology_compile.py compiles for TPU topologies and GPU hosts)."""

import importlib.util
import itertools
import os
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

from jaxlens import sharding
from jaxlens.data import synthetic
from jaxlens.data.pairs import UserHistory
from jaxlens.data.protocol import apply_protocol
from jaxlens.errors import JaxlensError
from jaxlens.train import aot, chips, configuration, loop
from tests import helpers


@pytest.mark.parametrize('user_tower', ['sasrec', 'lightgcn'])
def test_abstract_state_has_the_shapes_and_layouts_of_the_real_one(user_tower):
  """On a (4, 2) mesh that splits the tables over 'model' and the batch over 'data'; LightGCN
  also carries arrays built from the data (its graph's edges)."""
  config = configuration.resolve(helpers.tiny_config(user_tower=user_tower))
  config.mesh.data, config.mesh.model = 4, 2
  data = synthetic.sequential_interactions()
  mesh = sharding.make_mesh(config.mesh)
  before = helpers.live_arrays()
  abstract = loop.build_trainer(config, data, mesh, abstract=True).state
  assert not helpers.live_arrays() - before  # nothing allocated
  real = loop.build_trainer(config, data, mesh).state
  flat = lambda tree: dict(jax.tree_util.tree_flatten_with_path(tree)[0])
  abstract_leaves, real_leaves = flat(abstract), flat(real)
  assert abstract_leaves.keys() == real_leaves.keys()
  for path, leaf in abstract_leaves.items():
    want = real_leaves[path]
    assert isinstance(leaf, jax.ShapeDtypeStruct), jax.tree_util.keystr(path)
    assert (leaf.shape, leaf.dtype) == (want.shape, want.dtype), jax.tree_util.keystr(path)
    if want.ndim:  # scalars (Adam's count, the step) are replicated either way
      assert leaf.sharding.is_equivalent_to(want.sharding, want.ndim), jax.tree_util.keystr(path)
  assert any(leaf.sharding.spec != jax.P() for leaf in abstract_leaves.values())


def test_a_graph_towers_ranking_reads_its_users_split_over_the_mesh():
  """The propagated user table reaches the ranking as a run has it, split over 'model' (8
  ways), not replicated: one device's share of its 4,000 x 16 float32 rows, not all of them."""
  config = configuration.resolve(helpers.tiny_config(user_tower='lightgcn'))
  config.mesh.data, config.mesh.model = 1, 8
  data = aot.worst_case_data(config, 4000, 300)
  ranking = aot.compile_steps(config, data)[-1]
  assert ranking.function == 'ranking (one batch)'
  assert ranking.memory['argument'] < 4000 * 16 * 4 / 2


# How memory may grow with the batch (in units of the data axis), for a capacity of 100: a
# fixed part and a slope, steps where the compiler changes its plan, faster or slower than
# linear; or unknown to the search (no capacity).
_MEMORY_SHAPES = {
    'affine': lambda n: 20 + 3 * n,
    'steps': lambda n: 10 + 2 * n + 15 * (n // 9),
    'convex': lambda n: 5 + n * n / 12,
    'concave': lambda n: 12 * n ** 0.5,
    'flat, then a wall': lambda n: 50 if n < 23 else 500,
}


def test_largest_fitting_matches_a_search_of_every_batch():
  """Against brute force, for every capacity that leaves up to 64 multiples, from starts below
  and above the answer, whether the search knows the capacity or not, and whether a batch that
  does not fit says what it needs."""
  for (shape, needs), multiple, scale, start, told, said in itertools.product(
      _MEMORY_SHAPES.items(), (1, 8), (0.05, 0.3, 0.7, 1, 1.6, 4), (1, 7, 16, 100),
      (True, False), (True, False)):
    calls, capacity = [], 100 * scale

    def compile_at(size, needs=needs, multiple=multiple, calls=calls, capacity=capacity,
                   said=said):
      calls.append(size)
      assert size % multiple == 0 and size > 0
      used = needs(size // multiple)
      return aot.Compiled(used <= capacity, used if said or used <= capacity else None)

    cap = 64 * multiple
    want = max((n for n in range(multiple, cap + 1, multiple) if compile_at(n).fits), default=0)
    calls.clear()
    got = aot.largest_fitting(compile_at, start * multiple, multiple,
                              capacity if told else None, limit=cap)
    assert got == want, (shape, multiple, scale, start, told, said)
    assert len(calls) <= 3 * (cap // multiple).bit_length() + 3, (shape, multiple, scale, start)


def test_largest_fitting_follows_memory_to_the_answer_in_a_few_compiles():
  """A video train step's memory: 2 GiB of state and 12 MiB a user, on a 16 GiB chip with 8
  chips on the data axis. From the paper's 184 users (compiled already), the line through the
  memory of what fits finds 1,192 in three more compiles (704, 1,192, 1,200); doubling and
  bisection took nine."""
  gib = 2**30
  calls = []

  def compile_at(batch):
    if batch != 184:
      calls.append(batch)
    used = 2 * gib + batch * 12 * 2**20
    return aot.Compiled(used <= 16 * gib, used)

  assert aot.largest_fitting(compile_at, 184, 8, 16 * gib, limit=100_000) == 1192
  assert len(calls) <= 3, calls
  assert 1200 in calls  # the answer is proven: one data axis more does not fit


def test_largest_fitting_aims_between_what_fits_and_what_the_compiler_refused():
  """I3D-r50's train step on a v5e-8 grows faster than linearly (8.6 GiB at 184 users, 11.7 at
  336, 17.8 asked for at 544) and the compiler allows 15.75 of the chip's 16 GiB, so the line
  through what fits overshoots: from 336 it said 544, then kept a data axis below each refusal
  (536, 528) until the search fell back to bisection (the v5e-8's compiles: 336, 544, 536, 528,
  432, 472, 480; on this model of the step, nine). The line from the largest batch that fits to
  the refused batch, at the memory the compiler asked for, reaching what it allows, lands next
  to the answer (the v5e-8's compiles: 336, 544, 472, 480)."""
  gib, calls = 2**30, []

  def compile_at(batch):
    if batch != 184:
      calls.append(batch)
    used = 6.3 * gib + batch * 8 * 2**20 + batch**2 * 25 * 2**10
    return aot.Compiled(used <= 15.75 * gib, used, None if used <= 15.75 * gib else 15.75 * gib)

  want = max(n for n in range(8, 2000, 8) if compile_at(n).fits)
  calls.clear()
  assert aot.largest_fitting(compile_at, 184, 8, 16 * gib, limit=100_000) == want
  assert calls[1] == 544, calls  # as the compiles for the v5e-8 went
  assert len(calls) <= 5, calls  # 344, 544, 472, 480, 488
  assert want + 8 in calls


def test_largest_fitting_bisects_where_what_fits_adds_up_to_more_than_the_capacity():
  """libtpu lays out less than the memory analysis adds up to: SlowFast-r50 topT on a v5p-8
  fits at 2,308 users with a total of 99.3 GiB, over the 95.7 GiB libtpu allows. A line aimed
  at the capacity then lands below what already fits, and the search crept a data axis at a
  time (on this model of the step, 22 compiles); it bisects instead."""
  gib, calls = 2**30, []

  def compile_at(batch):
    calls.append(batch)
    total = 8 * gib + batch * 0.039 * gib
    laid_out = 0.93 * total
    fits = laid_out <= 95.73 * gib
    return aot.Compiled(fits, total if fits else laid_out, None if fits else 95.73 * gib)

  want = max(n for n in range(4, 100_000, 4) if compile_at(n).fits)
  calls.clear()
  assert aot.largest_fitting(compile_at, 480, 4, 95 * gib, limit=100_000) == want
  assert len(calls) <= 16, calls
  assert want + 4 in calls


def test_a_compile_out_of_memory_says_what_the_step_asked_for():
  """libtpu's refusal, verbatim from a v5e-8 compile: the search reads the bytes it asked for."""

  class RefusedByTheCompiler:

    def compile(self):
      raise RuntimeError(
          'RESOURCE_EXHAUSTED: E1000: CompileTimeHbmOom: Ran out of memory on HBM, the total '
          'memory required for HLO temporaries (17.81G) exceeds available HBM (15.75G). HLO '
          'module: jit_train_step.')

  v5e = chips.CHIPS['TPU v5 lite']
  with pytest.raises(aot.DoesNotFit, match='train step does not fit TPU v5e') as refused:
    aot._report('train step', RefusedByTheCompiler(), v5e, 8)  # pylint: disable=protected-access
  assert refused.value.needs == pytest.approx(17.81 * 2**30)
  assert refused.value.capacity == pytest.approx(15.75 * 2**30)


class _Holding:
  """A lowered step that compiles to a program holding `gib` GiB of arguments."""

  def __init__(self, gib: float):
    self.gib = gib

  def compile(self):
    return self

  def memory_analysis(self):
    return types.SimpleNamespace(argument_size_in_bytes=self.gib * 2**30)

  def cost_analysis(self):
    return {'flops': 1e12, 'bytes accessed': 1e9}


def test_a_gpu_holds_what_jaxs_allocator_gives_one_process(monkeypatch):
  """JAX's GPU allocator gives a process 75% of an H100's 80 GB (55.88 GiB) unless
  XLA_CLIENT_MEM_FRACTION says more: a step holding 60 GiB fits the chip, not the process. The
  share has two decimals, as the needs have: a step needing 55.89 GiB is refused."""

  for variable in ('XLA_CLIENT_MEM_FRACTION', 'XLA_PYTHON_CLIENT_MEM_FRACTION',
                   'XLA_PYTHON_CLIENT_ALLOCATOR'):
    monkeypatch.delenv(variable, raising=False)
  h100 = chips.CHIPS['NVIDIA H100 80GB HBM3']
  with pytest.raises(aot.DoesNotFit,
                     match=r'needs 60.00 GiB .* its 55.88 GiB \(75% of its 74.51 GiB') as refused:
    aot._report('train step', _Holding(60), h100, 1)  # pylint: disable=protected-access
  assert refused.value.capacity == int(0.75 * 80e9)
  assert not aot.fits(60 * 2**30)['H100']
  monkeypatch.setenv('XLA_PYTHON_CLIENT_MEM_FRACTION', '0.95')  # the older name
  assert h100.usable_bytes == int(0.95 * 80e9) and aot.fits(60 * 2**30)['H100']
  monkeypatch.setenv('XLA_CLIENT_MEM_FRACTION', '0.5')  # the current name wins
  assert h100.usable_bytes == int(0.5 * 80e9)
  monkeypatch.setenv('XLA_CLIENT_MEM_FRACTION', 'most')
  with pytest.raises(JaxlensError, match="XLA_CLIENT_MEM_FRACTION='most': expected a fraction"):
    aot.fits(1)
  assert chips.CHIPS['TPU v5 lite'].usable_bytes == 16 * 2**30  # libtpu keeps its own count


def test_a_tpu_step_that_libtpu_lays_out_fits_whatever_its_total():
  """libtpu refuses what a chip cannot hold and lays out what it accepts; the memory analysis'
  total can count more (buffers never live together): 17 GiB accepted for a 16 GiB v5e fits."""

  v5e = chips.CHIPS['TPU v5 lite']
  report = aot._report('train step', _Holding(17), v5e, 8)  # pylint: disable=protected-access
  assert report.memory['total'] == 17 * 2**30 and report.flops == 1e12


@pytest.mark.parametrize('topology, compiler, installed', [
    ('v5e:2x4', 'the TPU compiler', importlib.util.find_spec('libtpu') is not None),
    ('h100:8', 'the CUDA compiler', chips.cuda_plugin() is not None)])
def test_a_topology_without_its_compiler_is_one_line(topology, compiler, installed):
  if installed:
    pytest.skip(f'{compiler} is installed here')
  result = subprocess.run(
      [sys.executable, '-m', 'jaxlens.aot', '--config', 'sasrec_id:cpu', '--topology', topology],
      cwd=helpers.REPO, env=dict(os.environ, XLA_FLAGS=''), capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith('error: --topology ')
  assert f'needs {compiler}: pip install -r requirements-' in result.stderr


@pytest.mark.parametrize('users, items', [(30, 200), (300, 200), (7, 91)])
def test_worst_case_data_is_what_the_protocol_makes_of_full_histories(users, items):
  keep = 13  # max_seq_len 10
  histories = [UserHistory(f'u{u}', (np.arange(u * keep, (u + 1) * keep) % items + 1))
               for u in range(users)]
  want = apply_protocol(histories, max_seq_len=10)
  got = synthetic.full_length_interactions(users, items, 10)
  np.testing.assert_array_equal(got.sequences, want.sequences)
  np.testing.assert_array_equal(got.original_item_ids, want.original_item_ids)
  assert got.users == want.users and got.max_seq_len == want.max_seq_len


def _aot_fit(*args):
  return subprocess.run([sys.executable, '-m', 'benchmarks.aot_fit', *args], cwd=helpers.REPO,
                        env=dict(os.environ, JAX_PLATFORMS='cpu'), capture_output=True,
                        text=True, timeout=300)


def test_aot_fit_compiles_only_the_cells_its_filters_pick(tmp_path):
  """With the one cell the three filters leave already in --results, nothing is compiled (this
  venv has no TPU compiler: any other cell would fail) and the table shows that cell, with the
  memory its refused step asked for."""
  results = tmp_path / 'aot_fit.jsonl'
  results.write_text('{"encoder": "slowfast_r50", "policy": "FT", "topology": "v5e:2x4", '
                     '"batch": 80, "does_not_fit": "train step does not fit TPU v5e", '
                     '"hbm_gib": 17.81}\n')
  result = _aot_fit('--table', 'policies', '--encoders', 'slowfast_r50', '--policies', 'FT',
                    '--topologies', 'v5e:2x4', '--results', str(results))
  assert result.returncode == 0, result.stderr[-3000:]
  assert '| slowfast_r50 | FT | v5e-8 | 80 | no | 17.8 | – |' in result.stdout
  assert '[1/' not in result.stdout


def test_aot_fit_names_an_unknown_policy_in_one_line():
  result = _aot_fit('--table', 'policies', '--policies', 'FT,topt')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].endswith('--policies: unknown topt')


def test_a_stopped_largest_batch_search_goes_on_where_it_stopped(tmp_path, monkeypatch):
  """Stopped in its fourth compile and run again, the search makes none of the three compiles
  that ended again and ends as a search that never stopped: same batches, same answer. A fake
  compiler that fits up to 200 users and does not say what more would need (so the search
  doubles and bisects) stands in for libtpu."""
  aot_fit = importlib.import_module('benchmarks.aot_fit')
  made, stop_at = [], [4]

  def compile_steps(config, data, **unused):
    del data, unused
    batch = config.train.batch_size
    if len(made) + 1 == stop_at[0]:
      raise KeyboardInterrupt
    made.append(batch)
    if batch > 200:
      raise aot.DoesNotFit('train step', 'TPU v5e', 'out of memory')
    return [types.SimpleNamespace(
        memory={'total': batch * 2**20}, flops=1e12, bytes_accessed=1e9, optimal_seconds=-1.0,
        roofline_seconds=lambda chip: 0.1, mfu=lambda chip, seconds: 0.5)]

  monkeypatch.setattr(aot, 'compile_steps', compile_steps)
  monkeypatch.setattr(chips, 'topology_devices', lambda topology: jax.devices()[:8])
  monkeypatch.setattr(chips, 'chip_of', lambda device: chips.CHIPS['TPU v5 lite'])

  def run_search(results):
    monkeypatch.setattr(sys, 'argv', [
        'aot_fit', '--table', 'policies', '--max_batch', '--encoders', 'slowfast_r50',
        '--policies', 'FT', '--topologies', 'v5e:2x4', '--results', str(results)])
    aot_fit.main()
    return aot_fit._read(results)[-1]  # pylint: disable=protected-access

  with pytest.raises(KeyboardInterrupt):
    run_search(tmp_path / 'stopped.jsonl')
  before_the_stop = list(made)
  stop_at[0] = 0
  resumed = run_search(tmp_path / 'stopped.jsonl')
  after_the_stop = made[len(before_the_stop):]
  made.clear()
  whole = run_search(tmp_path / 'whole.jsonl')
  assert len(before_the_stop) == 3 and not set(before_the_stop) & set(after_the_stop)
  assert before_the_stop + after_the_stop == made  # the same compiles, none twice
  assert resumed['max_batch'] == whole['max_batch'] == 200
  assert resumed['tried'] == whole['tried'] and resumed['batch'] == whole['batch'] == 80


def test_largest_fitting_goes_on_from_batches_compiled_already():
  """Told that 344 users fit and 372 do not (FT MViT-B on a v5p-8, from a search that
  stopped), the search compiles only batches between them, none below its start."""
  calls = []

  def compile_at(batch):
    calls.append(batch)
    return aot.Compiled(batch <= 356, None)

  known = {148: aot.Compiled(True, None), 344: aot.Compiled(True, None),
           372: aot.Compiled(False, None), 404: aot.Compiled(False, None)}
  assert aot.largest_fitting(compile_at, 148, 4, limit=100_000, known=known) == 356
  assert calls and all(344 < batch < 372 for batch in calls), calls
  assert len(calls) <= 3, calls
