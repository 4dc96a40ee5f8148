"""Compiling for Cloud TPU topologies and GPU hosts on this CPU host (`jaxlens aot --topology`)
with libtpu's compiler and JAX's CUDA plugin: runs where requirements-tpu.txt and
requirements-gpu-aot.txt are installed (CI's AOT venv)."""

import importlib.util
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlens import sharding
from jaxlens.train import aot, chips, configuration
from tests import helpers

tpu = pytest.mark.skipif(importlib.util.find_spec('libtpu') is None,
                         reason='the TPU compiler: pip install -r requirements-tpu.txt')
gpu = pytest.mark.skipif(chips.cuda_plugin() is None,
                         reason='the CUDA compiler: pip install -r requirements-gpu-aot.txt')

# A tiny clip encoder on large clips: a user's clips take gigabytes, so a v5e chip's 16 GiB
# holds a few users and the largest batch is found in a handful of compiles.
_LARGE_CLIPS = ['--config', 'sasrec_v:toy', '--config.data.frame_size=640',
                '--config.data.num_frames=10', '--config.eval.encode_batch=4',
                '--users=300', '--items=200', '--topology=v5e:2x2']


def _aot(*args):
  env = dict(os.environ, XLA_FLAGS='', JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-m', 'jaxlens.aot', *args], cwd=helpers.REPO,
                        env=env, capture_output=True, text=True, timeout=600)


@tpu
def test_toy_steps_compile_for_two_v5e_slices_without_allocating_anything():
  """Two slices of 4 chips: the data axis spans them (multi-slice)."""
  devices = chips.topology_devices('v5e:2x2', num_slices=2)
  assert len(devices) == 8 and {d.slice_index for d in devices} == {0, 1}
  config = configuration.prepare(helpers.load_config('sasrec_id', 'cpu'), devices)
  mesh = sharding.make_mesh(config.mesh, devices)
  assert [d.slice_index for d in mesh.devices[:, 0]] == [0] * 4 + [1] * 4
  before = helpers.live_arrays()
  reports = aot.compile_steps(config, aot.worst_case_data(config, 300, 200), devices=devices)
  assert not helpers.live_arrays() - before  # nothing initialised, here or anywhere
  assert [r.function for r in reports] == ['train step', 'item table', 'user tower tables',
                                           'ranking (one batch)']
  train = reports[0]
  chip = chips.chip_of(devices[0])
  assert chip.name == 'TPU v5e'
  # The ID table (201 rows padded to 256, D=64, float32) is an argument with its two Adam
  # moments: at least 3 x 64 KiB on each chip.
  assert train.memory['argument'] >= 3 * 256 * 64 * 4
  assert 0 < train.memory['total'] < chip.hbm_bytes
  assert train.flops > 0 and train.bytes_accessed > 0
  assert 0 < train.mfu(chip, train.roofline_seconds(chip)) <= 1


@tpu
def test_a_graph_tower_compiles_for_a_topology():
  """LightGCN's edges are host arrays laid out with the model: shapes only for a topology."""
  devices = chips.topology_devices('v5e:2x2')
  config = configuration.prepare(helpers.load_config('lightgcn', 'cpu'), devices)
  before = helpers.live_arrays()
  train = aot.compile_steps(config, aot.worst_case_data(config, 300, 200), devices=devices,
                            evaluation=False)[0]
  assert not helpers.live_arrays() - before
  # 300 users x 10 training edges, 12 bytes each, split over the 4 chips.
  assert train.memory['argument'] >= 300 * 10 * 12 // 4
  assert train.flops > 0


@gpu
def test_toy_steps_compile_for_an_h100_host():
  devices = chips.topology_devices('h100:8')
  assert len(devices) == 8 and chips.chip_of(devices[0]).name == 'H100'
  config = configuration.prepare(helpers.load_config('sasrec_id', 'cpu'), devices)
  train = aot.compile_steps(config, aot.worst_case_data(config, 300, 200), devices=devices,
                            evaluation=False)[0]
  # XLA:GPU analyses no cost without a GPU: each GPU's share of the whole program's FLOPs, and
  # no bytes (the unfused program's are no bound), so the bound is the FLOPs at the peak.
  chip = chips.chip_of(devices[0])
  assert train.flops == pytest.approx(train.global_flops / 8) and train.flops > 0
  assert train.bytes_accessed is None
  assert train.roofline_seconds(chip) == pytest.approx(train.flops / (chip.peak_tflops * 1e12))
  assert train.memory['argument'] >= 3 * 256 * 64 * 4  # the ID table and its Adam moments
  assert 0 < train.memory['total'] < chip.usable_bytes


@tpu
def test_a_batch_that_does_not_fit_fails_in_one_line():
  result = _aot(*_LARGE_CLIPS, '--config.train.batch_size=64')
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert len(errors) == 1
  assert re.match(r'error: train step does not fit TPU v5e: .*(memory|HBM)', errors[0])


def _compile_on_a_v5e(argument_gib: float):
  """`aot`'s compile of a program holding a replicated argument of `argument_gib` and 10 GiB of
  temporaries (two of 5 GiB, both kept) on each chip of a v5e-4."""
  devices = chips.topology_devices('v5e:2x2')
  replicated = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(devices), ('data',)),
                                          jax.sharding.PartitionSpec())
  part = 5 * 2**30 // 4

  def program(x):
    sines, cosines = jax.lax.optimization_barrier((jnp.sin(x[:part]), jnp.cos(x[:part])))
    return (sines * cosines).sum() + x.sum()

  argument = jax.ShapeDtypeStruct((int(argument_gib * 2**30) // 4,), jnp.float32,
                                  sharding=replicated)
  compile_one = aot._report  # pylint: disable=protected-access  # one program, not a config
  return compile_one('program', jax.jit(program).lower(argument), chips.chip_of(devices[0]), 4)


@tpu
def test_a_refusal_counts_the_arguments_as_a_fitting_compile_does():
  """The search draws one line through what fitting batches need (the memory analysis' total:
  arguments and temporaries) and what refused ones asked for: libtpu's "memory required for HLO
  temporaries" must count the arguments too, or the line mixes two measures."""
  asked = []
  for argument_gib in (12, 15):
    with pytest.raises(aot.DoesNotFit) as refused:
      _compile_on_a_v5e(argument_gib)
    assert 'RESOURCE_EXHAUSTED' in str(refused.value)  # libtpu's refusal, read by aot
    asked.append(refused.value.needs)
  assert asked[0] > (12 + 10) * 2**30 * 0.99
  assert asked[1] - asked[0] == pytest.approx(3 * 2**30, rel=0.01)  # one for one


@tpu
def test_a_refusal_while_laying_out_the_buffers_says_what_was_asked_for():
  """5.745 + 10 GiB passes libtpu's first check (15.75 GiB on a v5e); its layout, with the
  program's code, does not, and says so in other words."""
  assert _compile_on_a_v5e(5.7).memory['total'] < 15.75 * 2**30
  with pytest.raises(aot.DoesNotFit, match='Used') as refused:
    _compile_on_a_v5e(5.745)
  assert refused.value.needs == pytest.approx(15.75 * 2**30, abs=0.01 * 2**30)
  assert refused.value.capacity == pytest.approx(15.75 * 2**30)


@tpu
def test_find_max_batch_finds_the_last_batch_that_compiles():
  result = _aot(*_LARGE_CLIPS, '--config.train.batch_size=32', '--find_max_batch')
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout
  best = int(re.search(r'largest global batch that fits: ([\d,]+)', out).group(1))
  tried = {int(size): verdict for size, verdict in
           re.findall(r'  batch ([\d,]+): (fits|train step does not fit)', out)}
  # The answer is a multiple of the 4 data devices, fits, and the next multiple was compiled
  # and does not.
  assert best % 4 == 0 and best >= 32
  assert tried[best + 4] == 'train step does not fit'
  assert best == 32 or tried[best] == 'fits'
  assert '| train step |' in out  # the configured batch fits: its report comes first
  # 'auto' decides for the chips compiled for, as a run on them would: 200 clips of 12.3 MB
  # take 0.6 GB of each v5e chip's 16 GiB.
  assert 'clips on the devices (data.clip_store=auto)' in out


@tpu
def test_an_unknown_topology_is_one_line():
  result = _aot('--config', 'sasrec_id:cpu', '--topology=v5e:3x3x3')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith("error: --topology 'v5e:3x3x3'")
