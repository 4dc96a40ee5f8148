"""Every item's clip (or cover) through a frozen video encoder, once, into a feature table.

The encoder runs in eval mode (no dropout, BatchNorm running statistics), from converted weights
(`init_from`, checked against the encoder, output mode and clip geometry) or deliberately random
(`init_from='random'`), in the given compute dtype; the table is stored in float32. Items are
laid over the mesh's `data` axis in chunks, each process loading its slice of every chunk (as
evaluation's item table does); the chunk's vectors come back replicated and process 0 writes
them (`PartialTable`), so an interrupted extraction resumes at its last finished chunk.

The paper's VIDRec features are `videomae_b` at 5x224x224, float32: the mean of VideoMAE's last
hidden states over tokens, which is both of its outputs ('head' and 'features').
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from flax import nnx

from jaxlens import sharding
from jaxlens.convert import pretrained
from jaxlens.data import pipeline
from jaxlens.data.clips import ClipStore
from jaxlens.data.normalize import normalize
from jaxlens.errors import JaxlensError
from jaxlens.extract.partial_table import PartialTable
from jaxlens.models import factory
from jaxlens.models.video import registry as encoders

RULES = (('batch', 'data'),)  # items over the data axis; the encoder is replicated


@dataclasses.dataclass(frozen=True)
class EncoderSettings:
  """What makes the vectors; recorded in the table's note."""

  encoder: str
  init_from: str  # a folder from `jaxlens convert`, or 'random'
  output: str = 'features'  # 'head' | 'features'
  num_frames: int = 5
  frame_size: int = 224
  dtype: str = 'float32'  # compute dtype
  seed: int = 0  # draws the weights when init_from='random'

  def note(self) -> dict[str, Any]:
    weights = (pretrained.RANDOM_INIT if self.init_from == pretrained.RANDOM_INIT else
               os.path.abspath(self.init_from))
    source = ('' if self.init_from == pretrained.RANDOM_INIT else
              pretrained.read_info(self.init_from).get('source', ''))
    return {**dataclasses.asdict(self), 'init_from': weights, 'weights_source': source}


def frozen_forward(settings: EncoderSettings) -> tuple[Callable, nnx.State]:
  """`(forward, state)`: `forward(state, uint8 clips (N, T, H, W, 3)) -> float32 (N, F)`, the
  encoder in eval mode with the settings' weights, pure (for `jax.jit`); errors are one line."""
  spec = encoders.get(settings.encoder)
  if settings.output not in ('head', 'features'):
    raise JaxlensError(f'output {settings.output!r}; choose head or features')
  geometry = (settings.num_frames, settings.frame_size, settings.frame_size)
  if any(got < need for got, need in zip(geometry, spec.min_input)):
    raise JaxlensError(f'{settings.encoder} needs clips of at least {spec.min_input} (T, H, W), '
                       f'not {geometry}')
  if not settings.init_from:
    raise JaxlensError("set the encoder's weights: a folder from jaxlens convert, or "
                       f"'{pretrained.RANDOM_INIT}' for a randomly initialised encoder on purpose")
  dtype = factory.dtype_of(settings.dtype, 'dtype')
  module = spec.build(output=settings.output, rngs=nnx.Rngs(settings.seed), dtype=dtype,
                      **spec.shape_kwargs(settings.num_frames, settings.frame_size))
  if settings.init_from != pretrained.RANDOM_INIT:
    pretrained.check_info(settings.init_from, spec, settings.output, settings.num_frames,
                          settings.frame_size, asked_by='command')
    pretrained.restore_encoder(module, settings.init_from)
  graphdef, state = nnx.split(nnx.view(module, deterministic=True, use_running_average=True,
                                       raise_if_not_found=False))

  def forward(state, clips):
    return nnx.merge(graphdef, state)(normalize(clips, dtype=dtype)).astype(jnp.float32)

  return forward, state


def extract(frames, item_ids: np.ndarray, settings: EncoderSettings, directory: str, *,
            modality: str, source: str, chunk: int = 64, devices=None,
            show_progress: bool = True) -> None:
  """Writes (or finishes) the table of `item_ids` (original ids) in `directory`.

  `frames.frames(item_id)` gives an item's uint8 clip `(T, H, W, 3)` at the settings' geometry
  (`tfds_source.ItemFrames` for videos, `ItemCovers` for covers); `source` names it in the note.
  """
  spec = encoders.get(settings.encoder)
  mesh = sharding.make_mesh({'data': -1, 'model': 1}, devices)
  if chunk <= 0 or chunk % mesh.shape['data']:
    raise JaxlensError(f'chunk {chunk} is not a positive multiple of the {mesh.shape["data"]} '
                       'devices')
  process = pipeline.ProcessSlice(jax.process_index(), jax.process_count())
  table = PartialTable(directory, item_ids, spec.out_dim(settings.output), chunk,
                       {'modality': modality, 'source': source, **settings.note()},
                       is_main=process.index == 0)
  if table.done < table.num_chunks:
    _encode_chunks(table, frames, settings, mesh, process, show_progress)
  table.finish()


def _encode_chunks(table: PartialTable, frames, settings: EncoderSettings, mesh,
                   process: pipeline.ProcessSlice, show_progress: bool) -> None:
  """Encodes the chunks `table` has not done yet, committing each as it comes back."""
  forward, state = frozen_forward(settings)
  replicated = sharding.replicated(mesh)
  state = jax.device_put(state, replicated)
  batch_sharding = sharding.batch_sharding(mesh, RULES)
  encode = jax.jit(forward, in_shardings=(replicated, batch_sharding), out_shardings=replicated)
  store = ClipStore(frames, np.concatenate([[0], table.item_ids]), in_memory=False)
  chunks = pipeline.item_clips_dataset(store, len(table.item_ids), table.chunk, process)
  remaining = chunks[table.done:].to_iter_dataset()  # Grain loads the next while one encodes
  with tqdm.tqdm(total=table.num_chunks, initial=table.done, desc='items', unit='chunk',
                 disable=not (show_progress and process.index == 0), mininterval=2) as bar:
    for index, batch in enumerate(remaining, start=table.done):
      clips = sharding.global_batch(batch, batch_sharding)['clips']
      table.commit(index, np.asarray(encode(state, clips)))
      bar.update()
