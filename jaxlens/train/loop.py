"""`train_and_evaluate(config, workdir)`: the whole run, top to bottom.

Data -> mesh and model -> resume -> epochs of jitted steps with validation, checkpoints and early
stopping -> the best checkpoint evaluated on valid and test -> `results.json`.
"""

from __future__ import annotations

import json
import os
import signal
import time

import jax
import numpy as np
import tqdm
from absl import logging
from flax import nnx

from jaxlens.data import interactions as interactions_lib
from jaxlens.data import pipeline
from jaxlens.models import factory
from jaxlens.train import mesh as mesh_lib
from jaxlens.train import optimizer as optimizer_lib
from jaxlens.train.checkpoint import Checkpoints
from jaxlens.train.step import Trainer
from jaxlens.train.summary import Summary


class _Preemption:
  """Turns SIGTERM into a flag the loop checks between steps (then saves and exits)."""

  def __init__(self):
    self.requested = False
    signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning('SIGTERM received: saving a checkpoint and stopping')
    self.requested = True


def item_table(trainer: Trainer, clips, encode_batch: int, batch_sharding) -> jax.Array:
  """Every item embedded once in eval mode: the ID table, or the video tower over all clips."""
  if clips is None:
    return trainer.run_item_table()
  num_items = trainer.num_items
  chunks = []
  for start in range(1, num_items + 1, encode_batch):
    ids = np.arange(start, start + encode_batch)
    ids[ids > num_items] = 0  # the last chunk's filler rows (blank clips, dropped below)
    sharded = mesh_lib.global_batch({'clips': clips[ids]}, batch_sharding)['clips']
    chunks.append(trainer.run_embed_clips(sharded))
  table = jax.numpy.concatenate(chunks)[:num_items]
  return jax.numpy.concatenate([jax.numpy.zeros_like(table[:1]), table])


def evaluate(trainer: Trainer, data, split: str, config, batch_sharding,
             process: pipeline.ProcessSlice, clips=None) -> dict[str, float]:
  """Means of HR@K / NDCG@K over all users; `cold/...` over users whose target never trained."""
  table = item_table(trainer, clips, config.eval.encode_batch, batch_sharding)
  totals = None
  for batch in pipeline.eval_dataset(data, split, config.eval.batch_size, process):
    sums = trainer.run_eval_step(table, mesh_lib.global_batch(batch, batch_sharding))
    totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
  totals = {k: float(v) for k, v in totals.items()}
  cold_users = totals.pop('cold/users')
  out = {k: v / data.num_users for k, v in totals.items() if not k.startswith('cold/')}
  out['cold'] = {k[5:]: v / max(cold_users, 1) for k, v in totals.items() if k.startswith('cold/')}
  out['cold']['users'] = int(cold_users)
  return out


def unique_bucket(config, mesh) -> int:
  """Granularity of a batch's distinct-clip count: 1/16 of the worst case, split evenly over
  the data axis, so a run compiles two or three shapes rather than one per step."""
  devices = mesh.shape[mesh_lib.mesh_axis(config.mesh.rules, 'batch')]
  worst = config.train.batch_size * (config.data.max_seq_len + 1)
  return -(-max(worst // 16, 1) // devices) * devices


def build_trainer(config, data, mesh, *, load_pretrained: bool = False) -> Trainer:
  rules = config.mesh.rules
  steps = pipeline.steps_per_epoch(data.num_users, config.train.batch_size) * config.train.epochs
  with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
    model = factory.build_model(
        config, data.num_items, rngs=nnx.Rngs(config.seed),
        vocab_multiple=mesh_lib.axis_size(mesh, rules, 'items'))
    if load_pretrained:
      from jaxlens.convert import pretrained  # pylint: disable=g-import-not-at-top
      pretrained.restore_encoder(model.item_tower.video.encoder, config.model.encoder.init_from)
    if config.model.item_tower == 'video':
      mesh_lib.shard_parameters(model.item_tower.video.encoder, mesh, rules, 'encoder_params')
    log_pop = data.log_popularity(config.loss.popularity_power)
    trainer = Trainer(
        model, optimizer_lib.make_optimizer(config.optim, steps), loss=config.loss.name,
        log_popularity=np.pad(log_pop, (0, model.item_tower.vocab_size - len(log_pop))),
        num_items=data.num_items, ks=config.eval.ks, seed=config.seed,
        trainable=factory.trainable_filter(config))
  trainer.compile(mesh_lib.batch_sharding(mesh, rules))
  return trainer


def train_and_evaluate(config, workdir: str) -> dict:
  start = time.time()
  os.makedirs(workdir, exist_ok=True)
  is_main = jax.process_index() == 0
  process = pipeline.ProcessSlice(jax.process_index(), jax.process_count())
  data = interactions_lib.load(config.data)
  logging.info('%d users, %d items, %d train positions', data.num_users, data.num_items,
               int((data.train_slots[:, :-1] != 0).sum()))
  clips = (interactions_lib.clip_store(config.data, data)
           if config.model.item_tower == 'video' else None)
  mesh = mesh_lib.make_mesh(config.mesh)
  batch_sharding = mesh_lib.batch_sharding(mesh, config.mesh.rules)
  checkpoints = Checkpoints(workdir)
  # Pretrained weights only start a run: a resumed run restores its trained ones below.
  trainer = build_trainer(config, data, mesh, load_pretrained=bool(
      config.model.encoder.init_from) and not checkpoints.has_latest())

  steps_per_epoch = pipeline.steps_per_epoch(data.num_users, config.train.batch_size)
  iterator = iter(pipeline.train_dataset(
      data, config.train.batch_size, config.train.epochs, config.seed, process, clips,
      unique_multiple=unique_bucket(config, mesh)))
  meta = {'epoch': 0, 'history': [], 'best': None, 'elapsed': 0.0, 'train_seconds': 0.0,
          'eval_seconds': 0.0, 'stale': 0}
  restored = checkpoints.restore_latest(trainer.state, iterator)
  if restored is not None:
    trainer.state, meta = restored
    logging.info('resumed from step %d (epoch %d)', int(trainer.state.step), meta['epoch'])
  resumed_elapsed = meta['elapsed'] - (time.time() - start)

  summary = Summary(workdir, enabled=is_main)
  preemption = _Preemption()
  select = config.eval.select_metric
  step = int(trainer.state.step)
  while step < steps_per_epoch * config.train.epochs and not _early_stop(meta, config):
    epoch = step // steps_per_epoch + 1
    epoch_start = time.time()
    bar = tqdm.tqdm(total=steps_per_epoch, initial=step % steps_per_epoch, disable=not is_main,
                    desc=f'epoch {epoch}/{config.train.epochs}', unit='step', leave=False)
    while True:
      batch = next(iterator)
      num_positions = int(batch.pop('num_positions'))
      metrics = trainer.run_train_step(mesh_lib.global_batch(batch, batch_sharding), num_positions)
      step += 1
      bar.update()
      if step % config.train.log_every_steps == 0:
        loss = float(metrics['loss'])
        bar.set_postfix(loss=f'{loss:.4f}')
        summary.scalars(step, {'train/loss': loss, 'train/grad_norm': float(metrics['grad_norm']),
                               'train/steps_per_second': bar.format_dict['rate'] or 0.0})
      if preemption.requested or checkpoints.reached_preemption(step):
        meta['elapsed'] = time.time() - start + resumed_elapsed
        checkpoints.save_latest(step, trainer.state, iterator, meta)
        checkpoints.wait()
        bar.close()
        logging.info('checkpoint saved at step %d; exiting for preemption', step)
        return {}
      if step % steps_per_epoch == 0:
        break
    jax.block_until_ready(trainer.state)
    bar.close()
    meta['train_seconds'] += time.time() - epoch_start
    meta['epoch'] = epoch
    if epoch % config.eval.every_epochs == 0 or epoch == config.train.epochs:
      eval_start = time.time()
      valid = evaluate(trainer, data, 'valid', config, batch_sharding, process, clips)
      meta['eval_seconds'] += time.time() - eval_start
      valid.pop('cold')
      meta['history'].append({'epoch': epoch, 'elapsed_seconds': time.time() - start +
                              resumed_elapsed, 'valid': valid})
      summary.scalars(step, {f'valid/{k}': v for k, v in valid.items()})
      logging.info('epoch %d: %s', epoch, ' '.join(f'{k}={v:.4f}' for k, v in valid.items()))
      if meta['best'] is None or valid[select] > meta['best']['valid'][select]:
        meta['best'], meta['stale'] = {'epoch': epoch, 'valid': valid}, 0
        checkpoints.save_best(step, trainer.state)
      else:
        meta['stale'] += 1
    meta['elapsed'] = time.time() - start + resumed_elapsed
    checkpoints.save_latest(step, trainer.state, iterator, meta)

  checkpoints.wait()
  trainer.state = checkpoints.restore_best(trainer.state)
  eval_start = time.time()
  valid = evaluate(trainer, data, 'valid', config, batch_sharding, process, clips)
  test = evaluate(trainer, data, 'test', config, batch_sharding, process, clips)
  valid.pop('cold')
  test_cold = test.pop('cold')
  evaluations = len(meta['history'])
  results = {
      'valid': valid, 'test': test, 'test_cold': test_cold,
      'best_epoch': meta['best']['epoch'] if meta['best'] else meta['epoch'],
      'epoch_seconds': meta['train_seconds'] / max(meta['epoch'], 1),
      'train_sequences_per_second': data.num_users * meta['epoch'] / max(meta['train_seconds'],
                                                                         1e-9),
      'eval_seconds': (meta['eval_seconds'] / evaluations if evaluations
                       else time.time() - eval_start),
      'history': meta['history'],
  }
  if is_main:
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump(results, f, indent=1)
    print('test ' + ' '.join(f'{k}={v:.4f}' for k, v in test.items()) +
          f' (best epoch {results["best_epoch"]})')
  summary.close()
  return results


def _early_stop(meta: dict, config) -> bool:
  return bool(config.train.patience) and meta['stale'] >= config.train.patience
