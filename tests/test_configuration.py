"""Config resolution and checks: every bad key or combination is one line, before any data."""

import json
import os
import re

import pytest

from jaxlens import default_config
from jaxlens.errors import JaxlensError
from jaxlens.models import user_towers
from jaxlens.train import configuration, losses
from tests import helpers


def _set(config, key, value):
  *parents, leaf = key.split('.')
  node = config
  for part in parents:
    node = node[part]
  node[leaf] = value
  return config


@pytest.mark.parametrize('key, value, message', [
    ('train.batch_size', 0, r"config.train.batch_size=0 must be a positive integer \(-1: the "
                            r"paper's batch for the model\)"),
    ('train.batch_size', -3, r'config.train.batch_size=-3 must be a positive integer'),
    ('train.epochs', 0, r'config.train.epochs=0 must be a positive integer'),
    ('eval.batch_size', 0, r'config.eval.batch_size=0 must be a positive integer'),
    ('eval.every_epochs', 0, r'config.eval.every_epochs=0 must be a positive integer'),
    ('eval.select_metric', 'ndcg@10', r"select_metric='ndcg@10' is not among the metrics"),
    ('eval.ks', (5,), r"select_metric='NDCG@10' is not among the metrics eval.ks=\(5,\) gives: "
                      r'HR@5, NDCG@5'),
    ('eval.evaluators', ('cold', 'fairness'), r"unknown evaluator 'fairness'"),
    ('loss.name', 'hinge', r"unknown loss 'hinge' \(config.loss.name\); known: bce, "),
    ('loss.in_batch.negatives', 'local',
     r"config.loss.in_batch.negatives='local': 'global' or a positive"),
    ('loss.in_batch.negatives', '0', r"config.loss.in_batch.negatives='0': 'global' or a positive"),
    ('loss.in_batch.negatives', '5',
     r"config.loss.in_batch.negatives='5' does not divide config.train.batch_size=16: the rows "
     r'of each step must form whole groups$'),
    ('model.user_tower', 'bert4rec', r"unknown user tower 'bert4rec'"),
    ('model.item_tower', 'audio', r"unknown item tower 'audio'"),
    ('model.dtype', 'float16', r"config.model.dtype='float16'; choose one of float32, bfloat16"),
    ('train.batch_size', 12, r'config.train.batch_size=12 is not a multiple of the 8 '
                             r'data-parallel devices'),
    ('eval.batch_size', 20, r'config.eval.batch_size=20 is not a multiple of the 8'),
    ('mesh.data', 3, r"config.mesh \{'data': 3, 'model': 1\} does not fit 8 devices"),
    ('mesh.data', 2, r"config.mesh \{'data': 2, 'model': 1\} uses 2 of 8 devices"),
    ('model.encoder.init_from', '/weights/x',
     r"config.model.encoder.init_from='/weights/x' is set, but it applies only with "
     r"config.model.item_tower='video'$"),
    ('model.grcn.layers', 3, r"config.model.grcn.layers=3 is set, but it applies only with "
                             r"config.model.user_tower='grcn'$"),
    ('optim.clip_norm', -1.0, r'config.optim.clip_norm=-1.0 must be a finite number at least 0'),
    ('optim.lr', -1e-3, r'config.optim.lr=-0.001 must be a finite number above 0'),
    ('optim.lr', float('nan'), r'config.optim.lr=nan must be a finite number above 0'),
    ('model.sasrec.heads', 3, r'config.model.hidden=16 is not divisible by '
                              r'config.model.sasrec.heads=3 \(SASRec splits it over its heads\)'),
    ('model.sasrec.heads', 0, r'config.model.sasrec.heads=0 must be a positive integer'),
    ('model.hidden', 0, r'config.model.hidden=0 must be a positive integer'),
    ('model.dropout', 1.5, r'config.model.dropout=1.5 must be a finite number at least 0 and '
                           r'below 1'),
])
def test_id_config_errors(key, value, message):
  config = helpers.tiny_config()
  _set(config, key, value)
  with pytest.raises(JaxlensError, match=message):
    configuration.check(configuration.resolve(config))


def _video(**encoder):
  config = helpers.load_config('sasrec_v')
  config.model.encoder.update(encoder)
  return config


def _converted(tmp_path, **info):
  folder = tmp_path / 'weights'
  (folder / 'state').mkdir(parents=True)
  (folder / 'encoder.json').write_text(json.dumps(info))
  return str(folder)


@pytest.mark.parametrize('config, message', [
    (_set(_video(init_from='random'), 'loss.name', 'full_softmax'),
     r"loss.name='full_softmax' does not work with the 'video' item tower: it scores every item "
     r'each step, so every item would be embedded each step; use bce or in_batch'),
    (_set(_video(init_from='random'), 'model.user_tower', 'lightgcn'),
     r"user_tower='lightgcn' does not work with the 'video' item tower: it propagates over every "
     r"item's vector each step, so every item would be embedded each step; use the features or "
     r"id or id\+features item tower"),
    (_video(name='x3d_s', train_mode='halfT', init_from='random'),
     r"encoder 'x3d_s' has no 'halfT' policy"),
    (_video(train_mode='topT'), r"train_mode='topT' needs pretrained weights: set "
                                r"model.encoder.init_from .* or init_from='random'"),
    (_video(train_mode='scratch', init_from='weights/slowfast_r50'),
     r"train_mode='scratch' trains from random weights, but init_from='weights/slowfast_r50'"),
    (_video(init_from='/nowhere/weights'), r'/nowhere/weights: not a converted encoder'),
    (_video(init_from='random', output='logits'),
     r"config.model.encoder.output='logits'; choose one of head, features"),
    (_video(init_from='random', frozen_batch_norm='frozen'),
     r"config.model.encoder.frozen_batch_norm='frozen'; choose one of batch, running"),
])
def test_video_config_errors(config, message):
  with pytest.raises(JaxlensError, match=message):
    configuration.check(configuration.resolve(config))


@pytest.mark.parametrize('negatives, group', [('global', 0), ('120', 120)])
def test_negatives_groups(negatives, group):
  config = _set(_video(init_from='random'), 'loss.in_batch.negatives', negatives)
  configuration.check(configuration.resolve(config))
  assert losses.REGISTRY.get('in_batch').options(config).negatives_group == group
  bce = _set(configuration.resolve(config), 'loss.name', 'bce')
  if group:  # the in_batch loss's keys, set for another loss
    with pytest.raises(JaxlensError, match=r"config.loss.in_batch.negatives='120' is set, but it "
                                           r"applies only with config.loss.name='in_batch'"):
      configuration.check(bce)
  else:
    configuration.check(bce)


def test_converted_weights_must_be_the_configured_encoder(tmp_path):
  folder = _converted(tmp_path, encoder='x3d_s', output_mode='head')
  configuration.check(configuration.resolve(_video(name='x3d_s', init_from=folder)))
  with pytest.raises(JaxlensError, match=r"holds other weights than the config asks for: "
                                         r"encoder 'x3d_s' \(config: 'x3d_m'\)"):
    configuration.check(configuration.resolve(_video(name='x3d_m', init_from=folder)))
  with pytest.raises(JaxlensError, match=r"output_mode 'head' \(config: 'features'\)"):
    configuration.check(configuration.resolve(_video(name='x3d_s', output='features',
                                                     init_from=folder)))
  mvit = _converted(tmp_path / 'mvit', encoder='mvit_b_16x4', output_mode='head', num_frames=8,
                    crop_size=224)
  with pytest.raises(JaxlensError, match=r'num_frames 8 \(config: 5\)'):
    configuration.check(configuration.resolve(_video(name='mvit_b_16x4', init_from=mvit)))


@pytest.mark.parametrize('encoder, policy, batch', [
    ('slowfast_r50', 'topT', 480), ('slowfast_r50', 'halfT', 240), ('slowfast_r50', 'FT', 80),
    ('videomae_b', 'FT', 40), ('videomae_b', 'halfT', 72), ('x3d_xs', 'frozen', 440),
    ('mvit_b_32x3', 'scratch', 40), ('r3d_18', 'scratch', 80)])
def test_paper_batch_follows_encoder_and_policy_after_overrides(encoder, policy, batch):
  """`batch_size=-1` is resolved after overrides (the reference's `run_video.py` table, 4 GPUs)."""
  config = _video(name=encoder, train_mode=policy)
  assert config.train.batch_size == -1
  assert configuration.resolve(config).train.batch_size == batch


def test_paper_batch_for_id_models_and_unknown_pairs():
  config = _set(helpers.tiny_config(), 'train.batch_size', -1)
  assert configuration.resolve(config).train.batch_size == 512
  with pytest.raises(JaxlensError, match='the paper ran no tiny_c3d scratch'):
    configuration.resolve(_set(helpers.tiny_video_config(), 'train.batch_size', -1))


def test_resume_refuses_a_config_that_changes_the_run(tmp_path):
  config = configuration.resolve(helpers.tiny_config())
  configuration.save(config, str(tmp_path))
  (tmp_path / 'checkpoints' / '3').mkdir(parents=True)  # a committed step: a run to resume
  longer = _set(_set(configuration.resolve(helpers.tiny_config()), 'train.epochs', 9),
                'eval.batch_size', 64)
  configuration.check_resume(longer, str(tmp_path))  # schedule length and eval batch may change
  other = _set(_set(configuration.resolve(helpers.tiny_config()), 'train.batch_size', 64),
               'optim.lr', 0.5)
  with pytest.raises(JaxlensError, match=r'holds a run of another config; it differs in '
                                         r'optim.lr \(0.01 -> 0.5\), train.batch_size '
                                         r'\(16 -> 64\)'):
    configuration.check_resume(other, str(tmp_path))


def test_workdir_must_be_a_writable_folder(tmp_path, monkeypatch):
  (tmp_path / 'file').write_text('')
  with pytest.raises(JaxlensError, match='workdir .*file is a file, not a folder'):
    configuration.check_workdir(str(tmp_path / 'file'))
  locked = tmp_path / 'locked'
  locked.mkdir()
  # Root may write anywhere, so the permission answer is simulated for this one folder.
  access = os.access
  monkeypatch.setattr(os, 'access', lambda path, mode: path != str(locked) and access(path, mode))
  with pytest.raises(JaxlensError, match='locked is not writable'):
    configuration.check_workdir(str(locked / 'run'))
  configuration.check_workdir(str(tmp_path / 'new' / 'run'))
  assert not (tmp_path / 'new').exists()


def test_a_workdir_without_checkpoints_never_blocks_a_corrected_config(tmp_path):
  """A start that failed after writing config.json but before its first checkpoint (a config
  error found while building the model, a kill during data loading) left no run to resume: the
  next start may use another config. Once a step is committed, the config is the run's."""
  config = configuration.resolve(helpers.tiny_config())
  configuration.save(config, str(tmp_path))
  (tmp_path / 'checkpoints' / '3.orbax-checkpoint-tmp-1').mkdir(parents=True)  # uncommitted
  corrected = _set(configuration.resolve(helpers.tiny_config()), 'model.sasrec.heads', 4)
  configuration.check_resume(corrected, str(tmp_path))
  for committed in ('3', '3.damaged'):
    (tmp_path / 'checkpoints' / committed).mkdir()
    with pytest.raises(JaxlensError, match=r'differs in model.sasrec.heads \(2 -> 4\)'):
      configuration.check_resume(corrected, str(tmp_path))
    (tmp_path / 'checkpoints' / committed).rmdir()


@pytest.mark.parametrize('user_tower', ['sasrec', 'gru4rec', 'nextitnet'])
def test_the_best_epoch_is_selected_as_the_reference_does(user_tower):
  """VideoRec by valid HR@10 (the reference's `Code/VideoRec/SASRec/main.py`), IDRec by valid
  NDCG@10 (`valid_metric` in `Code/IDRec/*/*.yaml`)."""
  assert helpers.load_config(f'{user_tower}_v').eval.select_metric == 'HR@10'
  assert helpers.load_config(f'{user_tower}_v', 'toy').eval.select_metric == 'HR@10'
  assert helpers.load_config(f'{user_tower}_id').eval.select_metric == 'NDCG@10'


def test_an_old_key_names_the_keys_that_replaced_it():
  config = helpers.tiny_config()
  config.model.num_blocks = 3  # an older config file's key
  with pytest.raises(JaxlensError, match=r'^config.model.num_blocks is now per part: '
                                         r'config.model.gru4rec.layers, '
                                         r'config.model.nextitnet.blocks, '
                                         r'config.model.sasrec.blocks, config.model.youtube.layers$'):
    configuration.prepare(config)
  config = helpers.tiny_config()
  config.model.hiden = 64
  with pytest.raises(JaxlensError, match=r'^config.model.hiden is not a config key'):
    configuration.prepare(config)


def _numeric_keys():
  """Every numeric key of the defaults (every part's namespace included): (key, bad value)."""
  flat = dict(configuration._flat(json.loads(default_config.base().to_json())))  # pylint: disable=protected-access
  for key, value in sorted(flat.items()):
    if isinstance(value, bool):
      continue
    if isinstance(value, int):
      yield key, -5
    elif isinstance(value, float):
      yield key, -5.0
      yield key, float('nan')
    elif isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value):
      yield key, (-5,)  # widths, ks, bin edges


def _config_using(key: str, tmp_path):
  """A tiny config whose parts read `key` (the tower, loss or evaluator whose namespace it is)."""
  namespace = key.rsplit('.', 1)[0]
  if namespace == 'model.encoder':
    return helpers.tiny_video_config()
  if namespace == 'model.features':
    return helpers.tiny_features_config(tmp_path / 'table')
  section, _, part = namespace.partition('.')
  if section == 'model' and part in user_towers.REGISTRY.names():
    return helpers.tiny_config(user_tower=part)
  return helpers.tiny_config()


@pytest.mark.parametrize('key, value', list(_numeric_keys()))
def test_every_numeric_key_is_range_checked_before_any_data(key, value, tmp_path):
  config = _config_using(key, tmp_path)
  configuration.prepare(config)  # the config is good before the change
  _set(config, key, value)
  with pytest.raises(JaxlensError, match=rf'^config\.{re.escape(key)}=.*must be'):
    configuration.prepare(config)
