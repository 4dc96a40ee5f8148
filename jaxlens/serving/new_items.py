"""Items added after training: their content read as the builders read it, and encoded.

A new video goes through `jaxlens.builders.frames.extract_clip` with the frame options of the
items dataset the run read (frame choice, size, resize mode, JPEG round trip), then through
`tfds_source.clip_from_jpegs` at the run's `data.num_frames` and `data.frame_size`, exactly as a
training clip is stored and read back; a cover goes through the builders' cover reader and
`tfds_source.cover_clip`. A run over frozen features encodes the clip (or cover) with the frozen
encoder its feature table's note names, or featurises titles by refitting the table's TF-IDF and
SVD on the very titles file it was fitted on (deterministic), then standardises the features with
the table's own column statistics. The trained item tower then encodes them (`encode`), with no
ID vector: an ID-only tower has nothing to embed a new item with.

What a new item is to the user tower: a per-item map (most towers) applies to it as to every
item; a graph tower's item is its propagated vector, and a new item has no edges, so it is
propagated from a vocabulary padding row, a node without edges and without an ID vector.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxlens.builders import configs as builder_configs
from jaxlens.builders import extraction, frames, item_files
from jaxlens.data import item_features, tfds_source
from jaxlens.errors import JaxlensError
from jaxlens.models import item_towers
from jaxlens.models.item_towers import features as feature_tower
from jaxlens.serving.restore import Restored

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
COVER_SUFFIXES = ('.jpg', '.jpeg', '.png')
ENCODE_CHUNK = 16  # items per encoder call


@dataclasses.dataclass(frozen=True)
class NewContent:
  """Where the new items' content is; exactly one is set."""

  videos: str = ''  # a folder of <item id>.mp4 files
  covers: str = ''  # a folder of <item id>.jpg files
  titles: str = ''  # a titles file (the release's formats)
  categories: str = ''  # with titles: a categories file for the category columns


def files_by_id(directory: str, suffixes: tuple[str, ...], flag: str) -> dict[int, str]:
  """`{item id: path}` of the files in `directory` named `<item id><suffix>`."""
  if not os.path.isdir(directory):
    raise JaxlensError(f'{flag} {directory}: no such folder')
  found = {}
  for name in sorted(os.listdir(directory)):
    stem, suffix = os.path.splitext(name)
    if suffix.lower() not in suffixes:
      continue
    if not stem.isdigit():
      raise JaxlensError(f'{flag} {os.path.join(directory, name)}: name the file by its item '
                         'id, e.g. 12345' + suffix)
    found[int(stem)] = os.path.join(directory, name)
  if not found:
    raise JaxlensError(f'{flag} {directory}: no {"/".join(suffixes)} files in it')
  return found


def frame_options(data_name: str) -> frames.FrameOptions:
  """The frame options the items dataset `data_name` ('microlens/toy') was built with."""
  config = tfds_source.dataset_names(data_name)[1].split('/')[1]
  for builder_config in builder_configs.FRAME_CONFIGS:
    if builder_config.name == config:
      return builder_config.frame_options
  raise JaxlensError(f'{data_name}: no items builder config {config!r}')


def video_clips(paths: dict[int, str], options: frames.FrameOptions, num_frames: int,
                size: int) -> np.ndarray:
  """uint8 `(n, num_frames, size, size, 3)`: each video's clip as training reads it."""
  clips = []
  for item, path in paths.items():
    clip = frames.extract_clip(path, options)
    if clip.status in (frames.VideoStatus.MISSING, frames.VideoStatus.UNREADABLE):
      raise JaxlensError(f'{path}: the video is {clip.status.value} (OpenCV decodes no frame)')
    clips.append(tfds_source.clip_from_jpegs(list(clip.jpegs), num_frames, (size, size),
                                             f'item {item}'))
  return np.stack(clips)


def cover_clips(paths: dict[int, str], num_frames: int, size: int) -> np.ndarray:
  """uint8 `(n, num_frames, size, size, 3)`: each cover as a still clip, as training reads it."""
  clips = []
  for item, path in paths.items():
    cover = extraction._read_cover(path)  # pylint: disable=protected-access
    if not cover:
      raise JaxlensError(f'{path}: not a decodable image')
    clips.append(tfds_source.cover_clip(cover, num_frames, (size, size), f'item {item}'))
  return np.stack(clips)


def _encoded_features(note: dict, clips: np.ndarray) -> np.ndarray:
  """The frozen encoder of a feature table's note over clips, as `jaxlens extract` ran it."""
  from jaxlens.extract import encoder_features  # pylint: disable=g-import-not-at-top
  settings = encoder_features.EncoderSettings(**{
      field.name: note[field.name] for field in dataclasses.fields(
          encoder_features.EncoderSettings)})
  forward, state = encoder_features.frozen_forward(settings)
  encode = jax.jit(forward)
  return np.concatenate([np.asarray(encode(state, clips[i:i + ENCODE_CHUNK]))
                         for i in range(0, len(clips), ENCODE_CHUNK)])


def _title_features(note: dict, content: NewContent, check_ids: Callable[[list[int]], None]
                    ) -> tuple[dict[int, np.ndarray], dict]:
  """Title-table rows of the titles in `content.titles`, and their (title, category)."""
  from jaxlens.extract import title_features  # pylint: disable=g-import-not-at-top
  if 'titles' not in note:
    raise JaxlensError(f'the title table was built from the dataset {note.get("dataset")}: new '
                       'titles join tables built from title files (jaxlens extract --modality '
                       'title --titles FILE)')
  source = note['titles']
  if not os.path.isfile(source) or title_features.sha256(source) != note.get('titles_sha256'):
    raise JaxlensError(f'the title table was fitted on {source}, which is no longer there as it '
                       'was: new titles need the same TF-IDF and SVD')
  titles, _ = item_files.read_titles(content.titles, item_files.ANY_ITEM)
  if not titles:
    raise JaxlensError(f'--titles {content.titles}: no titles in it')
  missing = [item for item, title in titles.items() if not title]
  if missing:
    raise JaxlensError(f'--titles {content.titles}: item(s) {", ".join(map(str, missing[:5]))} '
                       'have no title')
  check_ids(sorted(titles))
  fitted_titles, _ = item_files.read_titles(source, item_files.ANY_ITEM)
  ids = sorted(fitted_titles)
  columns = {column['name']: column for column in note['columns']}
  fitted = title_features.TitleVectors([fitted_titles[i] for i in ids],
                                       columns['title_svd']['count'])
  new_ids = sorted(titles)
  blocks = [fitted.transform([titles[i] for i in new_ids])]
  categories = (item_files.read_categories(content.categories, item_files.ANY_ITEM)[0]
                if content.categories else {})
  if 'category' in columns:
    blocks.append(title_features.one_hot_columns([categories.get(i, '') for i in new_ids],
                                                 columns['category']['values']))
  if 'log1p_likes_views' in columns:  # a new item has none yet
    blocks.append(np.zeros((len(new_ids), 2), np.float32))
  vectors = np.concatenate(blocks, axis=1)
  return ({item: vectors[n] for n, item in enumerate(new_ids)},
          {item: (titles[item], categories.get(item, '')) for item in new_ids})


def _only(content: NewContent, wanted: str, tower: str) -> None:
  """The one content flag given (the command takes exactly one) must be the tower's."""
  given = [name for name in ('videos', 'covers', 'titles') if getattr(content, name)]
  if given != [wanted]:
    raise JaxlensError(f'the {tower} item tower encodes new items from --{wanted}, not '
                       + ', '.join(f'--{name}' for name in given))


def item_inputs(restored: Restored, content: NewContent, check_ids: Callable[[list[int]], None]
                ) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[str, str]]]:
  """(item ids, the item tower's inputs for them, their (title, category)) from new content;
  `check_ids(ids)` sees the ids before any file is decoded."""
  config = restored.config
  name = config.model.item_tower
  spec = item_towers.REGISTRY.get(name)
  if spec.batch_inputs:  # video: clips as the run's own
    _only(content, 'videos', name)
    paths = files_by_id(content.videos, VIDEO_SUFFIXES, '--videos')
    check_ids(list(paths))
    clips = video_clips(paths, frame_options(config.data.name), config.data.num_frames,
                        config.data.frame_size)
    return np.asarray(list(paths), np.int64), clips, {}
  if not spec.reads_features:
    raise JaxlensError(f'the {name!r} item tower has nothing to embed a new item with: it '
                       'learned one vector per training item, and reads no content')
  note = item_features.read_note(config.model.features.path)
  modality = note['modality']
  _only(content, {'video': 'videos', 'cover': 'covers', 'title': 'titles'}[modality], name)
  if modality == 'title':
    rows, described = _title_features(note, content, check_ids)
    ids = np.asarray(sorted(rows), np.int64)
    features = np.stack([rows[int(item)] for item in ids])
  else:
    size = note['frame_size']
    if modality == 'video':
      paths = files_by_id(content.videos, VIDEO_SUFFIXES, '--videos')
      check_ids(list(paths))
      clips = video_clips(paths, frame_options(note['source']), note['num_frames'], size)
    else:
      paths = files_by_id(content.covers, COVER_SUFFIXES, '--covers')
      check_ids(list(paths))
      clips = cover_clips(paths, note['num_frames'], size)
    ids, described = np.asarray(list(paths), np.int64), {}
    features = _encoded_features(note, clips)
  table = item_features.load_rows(config.model.features.path,
                                  restored.data.original_item_ids[1:])
  return ids, feature_tower.standardisation(table)(features).astype(np.float32), described


def table_rows(restored: Restored, inputs: np.ndarray) -> np.ndarray:
  """float32 `(n, D)`: the new items' vectors as the user tower scores them."""
  states = restored.states
  encode = jax.jit(lambda states, x: restored.evaluation.model(states).encode(x))
  vectors = jnp.concatenate([encode(states, inputs[i:i + ENCODE_CHUNK])
                             for i in range(0, len(inputs), ENCODE_CHUNK)])
  if not restored.user_spec.needs_item_table:
    per_item = jax.jit(lambda states, v: restored.evaluation.model(states).tables(v).items)
    padded = jnp.concatenate([jnp.zeros_like(vectors[:1]), vectors])  # row 0: padding
    return np.asarray(per_item(states, padded)[1:], np.float32)
  return _propagated(restored, vectors)


def _propagated(restored: Restored, vectors: jax.Array) -> np.ndarray:
  """A graph tower's vectors of new items: each propagated from a vocabulary padding row (no
  edges, no ID vector), as many at a time as there are such rows."""
  table = restored.evaluation.item_table(restored.states)
  first = restored.data.num_items + 1
  free = table.shape[0] - first
  if free == 0:
    raise JaxlensError(f'the {restored.user_spec.name} graph has no vocabulary padding row to '
                       'propagate a new item from (its item count fills the table exactly)')
  out = []
  for start in range(0, len(vectors), free):
    chunk = vectors[start:start + free]
    items = table.at[first:first + len(chunk)].set(chunk.astype(table.dtype))
    out.append(np.asarray(restored.evaluation.tables(restored.states, items)
                          .items[first:first + len(chunk)], np.float32))
  return np.concatenate(out)
