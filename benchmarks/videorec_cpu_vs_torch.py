r"""SASRec_V train-step time on CPU: jaxlens against the same model written plainly in PyTorch.

Model: R3D-18 (`r3d_18`, topT: layer3, layer4 and the projection train) whose fc the reference
replaces by `GELU(Linear(512, D))`, the reference SASRec (2 post-LN blocks, 2 heads, ReLU FFN of
4D, learned positions, LayerNorm eps 1e-6, causal + key-padding mask of -1e9, dropout 0.1), the
reference in-batch softmax with logQ and own-item masking (`Code/VideoRec/SASRec/model/model.py`),
AdamW (video group without weight decay, recommender with 0.1) after global-norm clipping at 5,
fp32, BatchNorm and dropout in training mode.

jaxlens: `loop.build_trainer` on a 1-device mesh, `Trainer.run_train_step`, one batch from
`pipeline.train_dataset` over synthetic sequences with fake clips. PyTorch: the same batch; by
default it too encodes each distinct item of the batch once (`--torch_encode unique`, like with
like); `--torch_encode every_slot` encodes all users x 11 slots as the reference does, padding
slots as blank clips. Warm-up steps, then the median of the timed steps, on the same machine.

  python -m benchmarks.videorec_cpu_vs_torch --users 4 --frames 5 --size 112
  python -m benchmarks.videorec_cpu_vs_torch --users 2 --size 32 --steps 2  # check
"""

from __future__ import annotations

import argparse
import math
import os

import jax
import numpy as np

import torch_references.video as torch_reference
from benchmarks import videorec_common as common
from jaxlens import sharding
from jaxlens.data import clips as clips_lib
from jaxlens.data import pipeline, synthetic
from jaxlens.data.normalize import IMAGENET_MEAN, IMAGENET_STD
from jaxlens.data.pipeline import ITEM_IDS, clip_index

ENCODER = 'r3d_18'
TORCH_FROZEN_TENSORS = {'topT': 30, 'FT': 0}  # r3d18's first trainable tensor, run_video.py


def _torch_modules(hidden: int, dropout: float):
  """The PyTorch SASRec and its block, defined where torch is imported (it is optional)."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top

  def xavier(layer):
    nn.init.xavier_normal_(layer.weight)
    if getattr(layer, 'bias', None) is not None:
      nn.init.zeros_(layer.bias)
    return layer

  class Block(nn.Module):
    """Post-LN: LN(x + Drop(attention)), then LN(h + Drop(W2 ReLU(W1 h)))."""

    def __init__(self, heads: int):
      super().__init__()
      self.heads = heads
      self.q, self.k, self.v, self.o = (xavier(nn.Linear(hidden, hidden, bias=False))
                                        for _ in range(4))
      self.attention_dropout, self.output_dropout = nn.Dropout(dropout), nn.Dropout(dropout)
      self.norm1 = nn.LayerNorm(hidden, eps=1e-6)
      self.w1 = xavier(nn.Linear(hidden, 4 * hidden))
      self.w2 = xavier(nn.Linear(4 * hidden, hidden))
      self.ffn_dropout = nn.Dropout(dropout)
      self.norm2 = nn.LayerNorm(hidden, eps=1e-6)

    def forward(self, x, bias):
      batch, length, _ = x.shape
      split = lambda t: t.view(batch, length, self.heads, -1).transpose(1, 2)
      q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
      scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias
      context = self.attention_dropout(torch.softmax(scores, dim=-1)) @ v
      context = context.transpose(1, 2).reshape(batch, length, hidden)
      x = self.norm1(x + self.output_dropout(self.o(context)))
      return self.norm2(x + self.ffn_dropout(self.w2(torch.relu(self.w1(x)))))

  class SASRec(nn.Module):

    def __init__(self, max_seq_len: int, blocks: int = 2, heads: int = 2):
      super().__init__()
      self.positions = nn.Embedding(max_seq_len, hidden)
      nn.init.xavier_normal_(self.positions.weight)
      self.norm = nn.LayerNorm(hidden, eps=1e-6)
      self.dropout = nn.Dropout(dropout)
      self.blocks = nn.ModuleList(Block(heads) for _ in range(blocks))

    def forward(self, x, mask):
      length = x.shape[1]
      x = self.dropout(self.norm(x + self.positions.weight[:length]))
      causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
      bias = torch.where(causal[None] & mask[:, None, :], 0.0, -1e9)[:, None]  # (B, 1, L, L)
      for block in self.blocks:
        x = block(x, bias)
      return x

  return SASRec, xavier


def _in_batch_loss(states, slot_embs, slot_ids, log_pop):
  """The reference's in-batch loss (`Code/VideoRec/SASRec/model/model.py`): softmax over all
  B*(L+1) slots, logQ on every column, own items masked."""
  import torch  # pylint: disable=g-import-not-at-top
  batch, slots = slot_ids.shape
  columns = slot_ids.reshape(-1)
  logits = states.reshape(-1, states.shape[-1]) @ slot_embs.reshape(batch * slots, -1).T
  logits = logits - log_pop[columns]
  own = (slot_ids[:, :, None] == columns[None, None, :]).any(1) | (columns == 0)[None]
  own = own.repeat_interleave(slots - 1, dim=0)  # (B*L, C), row u*L+t
  labels = (torch.arange(batch)[:, None] * slots + torch.arange(1, slots)[None]).reshape(-1)
  is_label = torch.nn.functional.one_hot(labels, batch * slots).bool()
  logits = logits.masked_fill(own & ~is_label, -1e4)
  valid = (slot_ids[:, :-1] != 0).reshape(-1)
  return torch.nn.functional.cross_entropy(logits[valid], labels[valid])


def _torch_step(args, batch: dict[str, np.ndarray], every_slot_clips: np.ndarray | None,
                log_pop: np.ndarray):
  """A closure running one PyTorch train step on `batch` (encoding unique or every slot)."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  sasrec_cls, xavier = _torch_modules(args.hidden, 0.1)
  encoder = torch_reference.build(ENCODER, args.frames, args.size).train()  # fc -> Identity
  for index, param in enumerate(encoder.parameters()):
    param.requires_grad = index >= TORCH_FROZEN_TENSORS[args.train_mode]
  projection = xavier(torch.nn.Linear(512, args.hidden))
  sasrec = sasrec_cls(common.MAX_SEQ_LEN).train()
  video = [p for p in encoder.parameters() if p.requires_grad] + list(projection.parameters())
  trainable = video + list(sasrec.parameters())
  optimizer = torch.optim.AdamW([{'params': video, 'weight_decay': 0.0},
                                 {'params': list(sasrec.parameters()), 'weight_decay': 0.1}],
                                lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
  mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
  std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
  slot_ids = torch.from_numpy(batch['item_ids']).long()
  clips = torch.from_numpy(batch['clips'] if every_slot_clips is None else every_slot_clips)
  slot_index = torch.from_numpy(batch[clip_index(ITEM_IDS)]).long()
  log_pop = torch.from_numpy(log_pop).float()

  def embed(uint8_clips):  # (N, T, H, W, 3) uint8 -> (N, D)
    x = (uint8_clips.permute(0, 4, 1, 2, 3).float() / 255.0 - mean) / std
    return torch.nn.functional.gelu(projection(encoder(x)))

  def step():
    optimizer.zero_grad(set_to_none=True)
    embs = embed(clips)
    if every_slot_clips is None:
      slot_embs = embs[slot_index] * (slot_ids != 0)[..., None]
    else:
      slot_embs = embs.view(slot_ids.shape + (-1,))  # padding slots: embeddings of blank clips
    states = sasrec(slot_embs[:, :-1], slot_ids[:, :-1] != 0)
    loss = _in_batch_loss(states, slot_embs, slot_ids, log_pop)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 5.0)
    optimizer.step()
    return float(loss.detach())

  return step


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--users', type=int, default=4, help='users per batch (x 11 slots)')
  parser.add_argument('--items', type=int, default=1000, help='synthetic catalogue size')
  parser.add_argument('--frames', type=int, default=5)
  parser.add_argument('--size', type=int, default=112)
  parser.add_argument('--hidden', type=int, default=512)
  parser.add_argument('--train_mode', default='topT', choices=tuple(TORCH_FROZEN_TENSORS))
  parser.add_argument('--torch_encode', default='unique', choices=('unique', 'every_slot'))
  parser.add_argument('--threads', type=int, default=len(os.sched_getaffinity(0)),
                      help='torch.set_num_threads (default: the cores this process may use)')
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--steps', type=int, default=5)
  args = parser.parse_args()
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)

  config = common.videorec_config(ENCODER, users=args.users, frames=args.frames, size=args.size,
                                  hidden=args.hidden, train_mode=args.train_mode)
  data = common.synthetic_data(args.users, args.items)
  store = clips_lib.ClipStore(synthetic.RandomFrames(args.frames, args.size),
                              data.original_item_ids, in_memory=False)
  trainer, _, batch_sharding = common.build(config, data, 1)
  layout = pipeline.BatchLayout(trainer.task, data.num_items, clips=store)
  batch = next(iter(pipeline.train_dataset(trainer.task.rows(data), layout, args.users, 1,
                                           seed=0)))
  num_positions = int(batch.pop(pipeline.NUM_POSITIONS))
  device_batch = sharding.global_batch(batch, batch_sharding)

  def jax_step():
    jax.block_until_ready(trainer.run_train_step(device_batch, num_positions)['loss'])

  jax_times = common.timed(jax_step, args.warmup, args.steps)
  every_slot = (store[batch['item_ids'].reshape(-1)] if args.torch_encode == 'every_slot'
                else None)
  log_pop = data.log_popularity(config.loss.in_batch.popularity_power)
  torch_step = _torch_step(args, batch, every_slot, log_pop)
  torch_times = common.timed(torch_step, args.warmup, args.steps)

  slots = batch['item_ids'].size
  torch_clips = slots if every_slot is not None else len(batch['clips'])
  print(f'SASRec_V + {ENCODER} {args.train_mode}, {args.users} users x {common.SLOTS} slots '
        f'({np.count_nonzero(batch["item_ids"])} real, {num_positions} positions), '
        f'{args.frames}x{args.size}x{args.size} clips, D={args.hidden}, fp32, CPU '
        f'({os.cpu_count()} cores visible); jax {jax.__version__}, torch {torch.__version__} with '
        f'torch.set_num_threads({args.threads}); median of {args.steps} steps after '
        f'{args.warmup} warm-up')
  print()
  jax_ms, torch_ms = 1e3 * common.median(jax_times), 1e3 * common.median(torch_times)
  common.print_table(
      ['implementation', 'clips encoded/step', 'ms/step (median)', 'min ms', 'ms / jaxlens ms'],
      [['jaxlens (XLA:CPU)', len(batch['clips']), f'{jax_ms:.0f}',
        f'{1e3 * min(jax_times):.0f}', '1.00'],
       [f'PyTorch ({args.torch_encode})', torch_clips, f'{torch_ms:.0f}',
        f'{1e3 * min(torch_times):.0f}', f'{torch_ms / jax_ms:.2f}']])
  print()
  print(f'jaxlens / PyTorch time ratio: {jax_ms / torch_ms:.2f} (>1: jaxlens slower)')


if __name__ == '__main__':
  main()
