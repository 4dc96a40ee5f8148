"""Adding a model is one file plus one registry line: a tower defined here alone trains,
evaluates, checks its own keys and names its report rows, with no other file touched."""

import jax.numpy as jnp
import pytest
from flax import nnx

from jaxlens import config_values, default_config
from jaxlens.data import synthetic
from jaxlens.errors import JaxlensError
from jaxlens.models import user_towers
from jaxlens.report import __main__ as report_cli
from jaxlens.train import configuration, loop
from tests import helpers


class LastItem(user_towers.UserTower):
  """Scores the next item from the last one alone: a first-order Markov chain."""

  def __init__(self, hidden: int, *, scale: float, rngs: nnx.Rngs, dtype=jnp.float32):
    self.transition = nnx.Linear(hidden, hidden, use_bias=False, dtype=dtype, rngs=rngs)
    self.scale = scale

  def __call__(self, history, mask, user_ids, users=None):
    del mask, user_ids, users
    return self.scale * self.transition(history)  # step t sees item t only: causal


def _build(config, data, *, layout, rngs, dtype):
  del data, layout
  return LastItem(config.model.hidden, scale=config.model.last_item.scale, rngs=rngs, dtype=dtype)


SPEC = user_towers.UserTowerSpec(
    'last_item', build=_build, task='sequence', paper_batch_size=512, paper_name='LastItem',
    family='sr', config={'scale': 1.0},
    check=lambda config: config_values.positive(config, 'model.last_item.scale'))


@pytest.fixture
def registered():
  user_towers.REGISTRY.register(SPEC)
  yield
  user_towers.REGISTRY.unregister(SPEC.name)


def _config(tmp_path):
  data = synthetic.sequential_interactions()
  helpers.write_pairs(tmp_path / 'pairs.tsv', data)
  config = helpers.tiny_config()
  config.model.user_tower = 'last_item'
  config.data.pairs_path = str(tmp_path / 'pairs.tsv')
  return config


def test_a_tower_defined_in_one_file_trains_evaluates_and_names_its_report_row(
    registered, tmp_path, capsys):
  del registered
  config = _config(tmp_path)
  assert config.model.last_item.scale == 1.0  # its namespace, from its registration alone
  results = loop.train_and_evaluate(config, str(tmp_path / 'run'))
  assert 0 < results['test']['HR@10'] <= 1  # a next-item pattern a Markov chain learns
  summary = capsys.readouterr().out
  assert 'model.last_item.scale = 1.0' in summary and 'model.grcn.' not in summary
  assert report_cli.main([str(tmp_path / 'run'), '--out', str(tmp_path / 'report')]) == 0
  report = (tmp_path / 'report' / 'report.md').read_text()
  assert 'LastItem' in report and 'IDRec (SR)' in report


def test_its_keys_are_checked_and_belong_to_it(registered, tmp_path):
  del registered
  config = _config(tmp_path)
  config.model.last_item.scale = -1.0
  with pytest.raises(JaxlensError, match=r'^config.model.last_item.scale=-1.0 must be a finite '
                                         r'number above 0$'):
    configuration.prepare(config)
  other = helpers.tiny_config()
  other.model.last_item.scale = 2.0
  with pytest.raises(JaxlensError, match=r"config.model.last_item.scale=2.0 is set, but it "
                                         r"applies only with config.model.user_tower='last_item'"):
    configuration.prepare(other)


def test_unregistered_it_is_gone_from_the_config():
  assert 'last_item' not in default_config.base().model
