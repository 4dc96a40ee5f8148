"""Evaluation's item table and scores are computed in `eval.dtype`, whatever the training dtype
(the reference computes them in fp32, outside the fp16 autocast of training:
`Code/VideoRec/SASRec/utils/metrics.py`)."""

import jax
import jax.numpy as jnp
import pytest

from jaxlens import sharding
from jaxlens.data import synthetic
from jaxlens.train import configuration, loop
from tests import helpers


@pytest.mark.parametrize('eval_dtype, want', [('float32', jnp.float32),
                                              ('bfloat16', jnp.bfloat16)])
def test_a_bfloat16_run_is_evaluated_in_the_eval_dtype(eval_dtype, want):
  config = helpers.tiny_config()
  config.model.dtype = 'bfloat16'
  config.eval.dtype = eval_dtype
  config = configuration.resolve(config)
  data = synthetic.sequential_interactions()
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  trainer = loop.build_trainer(config, data, mesh)
  assert trainer.model(trainer.state).item_tower.table().dtype == jnp.bfloat16  # training
  evaluation = loop.build_evaluation(config, data, trainer, mesh, show_progress=False)
  assert evaluation.item_table(trainer.state.model_states()).dtype == want
