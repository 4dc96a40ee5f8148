"""The synthetic `toy` subset: MicroLens-shaped files that need no download.

`write_toy_files` writes, deterministically from a seed, the files of a release in the official
formats (`MicroLens-toy_pairs.csv` with timestamps, titles, likes and views, categories, covers
and real `.mp4` videos), so the builders read the toy subset exactly as they read real data.

What makes it useful for a quickstart and for tests:
- items fall into a handful of latent categories; each video shows shapes whose colour, shape and
  motion depend on the category, plus item-specific variation (size, offset, shade, speed);
- each user prefers one or two categories and draws most items from them, so content predicts
  behaviour;
- a fraction of the items (`cold_fraction`) occur only as users' last items, so under
  leave-one-out (train `s[:-2]`, test target `s[-1]`) they are never seen in training.
"""

from __future__ import annotations

import dataclasses
import os

import cv2
import numpy as np

from jaxlens.data.releases import TOY_PREFIX

CATEGORIES = ('Anime', 'Delicacy', 'Game', 'Pet', 'Sports', 'Music', 'Travel', 'Beauty')
PREFIX = TOY_PREFIX


@dataclasses.dataclass(frozen=True)
class ToySpec:
  """Size and seed of the toy subset; the defaults are the `toy` builder config."""

  num_users: int = 2000
  num_items: int = 400
  num_categories: int = 8
  seed: int = 0
  video_frames: int = 24
  video_size: int = 64
  min_len: int = 5
  max_len: int = 15
  preferred_share: float = 0.85  # chance that an item comes from the user's preferred categories
  cold_fraction: float = 0.1

  def __post_init__(self):
    if not 1 <= self.num_categories <= len(CATEGORIES):
      raise ValueError(f'num_categories must be in 1..{len(CATEGORIES)}')
    if self.num_items < 2 * self.num_categories or self.num_items < 2 * self.max_len:
      raise ValueError('need two items per category and twice max_len items')


def item_categories(spec: ToySpec) -> np.ndarray:
  """Category of items 1..num_items (index 0 unused): round robin, so every category has items."""
  return np.arange(spec.num_items + 1) % spec.num_categories


def cold_items(spec: ToySpec) -> np.ndarray:
  """Items that only ever appear last in a sequence: the highest ids of each category."""
  categories = item_categories(spec)
  per_category = max(1, round(spec.cold_fraction * spec.num_items / spec.num_categories))
  cold = [np.arange(1, spec.num_items + 1)[categories[1:] == c][-per_category:]
          for c in range(spec.num_categories)]
  return np.sort(np.concatenate(cold))


def draw_sequences(spec: ToySpec) -> list[np.ndarray]:
  """One chronological item sequence per user, without repeats."""
  rng = np.random.default_rng(spec.seed)
  categories = item_categories(spec)
  cold = set(cold_items(spec).tolist())
  warm_by_category = [[i for i in range(1, spec.num_items + 1)
                       if categories[i] == c and i not in cold]
                      for c in range(spec.num_categories)]
  cold_by_category = [[i for i in cold if categories[i] == c] for c in range(spec.num_categories)]
  # Within a category popularity falls off like 1/rank, as real interaction counts do.
  popularity = [1.0 / np.arange(1, len(items) + 1) for items in warm_by_category]
  sequences = []
  for _ in range(spec.num_users):
    preferred = rng.choice(spec.num_categories, size=rng.integers(1, 3), replace=False)
    length = int(rng.integers(spec.min_len, spec.max_len + 1))
    chosen: list[int] = []
    while len(chosen) < length - 1:
      category = (rng.choice(preferred) if rng.random() < spec.preferred_share
                  else rng.integers(spec.num_categories))
      weights = popularity[category] / popularity[category].sum()
      item = int(rng.choice(warm_by_category[category], p=weights))
      if item not in chosen:
        chosen.append(item)
    last_category = int(rng.choice(preferred))
    unseen = [i for i in warm_by_category[last_category] if i not in chosen]
    pool = (cold_by_category[last_category]
            if rng.random() < 2 * spec.cold_fraction or not unseen else unseen)
    chosen.append(int(rng.choice(pool)))
    sequences.append(np.asarray(chosen, np.int64))
  return sequences


def render_video(item: int, spec: ToySpec) -> np.ndarray:
  """(frames, size, size, 3) uint8 RGB: the category sets colours, shape and motion."""
  category = int(item_categories(spec)[item])
  rng = np.random.default_rng((spec.seed, item))
  size, hue = spec.video_size, 180 * category // spec.num_categories
  background = _hsv_to_rgb(hue, 80, 60 + int(rng.integers(0, 40)))
  colour = _hsv_to_rgb((hue + 90) % 180, 220, 160 + int(rng.integers(0, 90)))
  radius = int(size * rng.uniform(0.12, 0.22))
  angle = 2 * np.pi * category / spec.num_categories  # direction of motion
  speed = size * rng.uniform(0.015, 0.03)
  start = rng.uniform(0.3, 0.7, size=2) * size
  video = np.empty((spec.video_frames, size, size, 3), np.uint8)
  for t in range(spec.video_frames):
    frame = np.full((size, size, 3), background, np.uint8)
    x, y = (start + t * speed * np.array([np.cos(angle), np.sin(angle)])) % size
    centre = (int(x), int(y))
    if category % 3 == 0:
      cv2.circle(frame, centre, radius, colour, -1)
    elif category % 3 == 1:
      cv2.rectangle(frame, (centre[0] - radius, centre[1] - radius),
                    (centre[0] + radius, centre[1] + radius), colour, -1)
    else:
      corners = np.array([[centre[0], centre[1] - radius], [centre[0] - radius, centre[1] + radius],
                          [centre[0] + radius, centre[1] + radius]], np.int32)
      cv2.fillConvexPoly(frame, corners, colour)
    video[t] = frame
  return video


def _hsv_to_rgb(hue: int, saturation: int, value: int) -> tuple[int, int, int]:
  pixel = cv2.cvtColor(np.array([[[hue, saturation, value]]], np.uint8), cv2.COLOR_HSV2RGB)
  return tuple(int(c) for c in pixel[0, 0])


def write_mp4(path: str, video_rgb: np.ndarray, fps: float = 24.0) -> None:
  """Writes (T, H, W, 3) uint8 RGB frames as an `mp4v` .mp4 (the codec in opencv-headless)."""
  height, width = video_rgb.shape[1:3]
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
  if not writer.isOpened():
    raise OSError(f'OpenCV cannot write {path}')
  for frame in video_rgb:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()


def write_toy_files(folder: str, spec: ToySpec) -> None:
  """Writes the toy release into `folder` (created); the same spec always gives the same files."""
  videos_dir = os.path.join(folder, f'{PREFIX}_videos')
  covers_dir = os.path.join(folder, f'{PREFIX}_covers')
  os.makedirs(videos_dir, exist_ok=True)
  os.makedirs(covers_dir, exist_ok=True)
  categories = item_categories(spec)
  rng = np.random.default_rng((spec.seed, 1))
  with open(os.path.join(folder, f'{PREFIX}_pairs.csv'), 'w', encoding='utf-8') as f:
    f.write('user,item,timestamp\n')
    for user, items in enumerate(draw_sequences(spec), start=1):
      stamps = 1_600_000_000_000 + np.cumsum(rng.integers(60_000, 86_400_000, size=len(items)))
      f.writelines(f'{user},{item},{stamp}\n' for item, stamp in zip(items, stamps))
  with open(os.path.join(folder, f'{PREFIX}_title_en.csv'), 'w', encoding='utf-8') as f:
    f.writelines(f'{i}, toy video {i}, a {CATEGORIES[categories[i]].lower()} clip\n'
                 for i in range(1, spec.num_items + 1))
  with open(os.path.join(folder, f'{PREFIX}_likes_and_views.txt'), 'w', encoding='utf-8') as f:
    views = rng.integers(1_000, 1_000_000, size=spec.num_items + 1)
    f.writelines(f'{i}\t{views[i] // 20}\t{views[i]}\n' for i in range(1, spec.num_items + 1))
  with open(os.path.join(folder, 'tags_to_summary.csv'), 'w', encoding='utf-8') as f:
    f.write('video_id, tag\n')
    f.writelines(f'{i},{CATEGORIES[categories[i]]}\n' for i in range(1, spec.num_items + 1))
  for item in range(1, spec.num_items + 1):
    video = render_video(item, spec)
    write_mp4(os.path.join(videos_dir, f'{item}.mp4'), video)
    if item % 10:  # every tenth item has no cover, as some real items lack one
      cv2.imwrite(os.path.join(covers_dir, f'{item}.jpg'),
                  cv2.cvtColor(video[0], cv2.COLOR_RGB2BGR))
