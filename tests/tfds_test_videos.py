"""Videos with known content for the frame-extraction and builder tests."""

import os

import numpy as np

from jaxlens.builders import toy

GREY_STEP = 8  # frame t of a ramp video is solid grey t * GREY_STEP


def write_ramp(path: str, num_frames: int, height: int = 36, width: int = 64) -> None:
  """A video whose frames tell their own index by their grey level."""
  levels = np.arange(num_frames, dtype=np.uint8) * GREY_STEP
  toy.write_mp4(path, np.broadcast_to(levels[:, None, None, None],
                                      (num_frames, height, width, 3)).copy())


def write_truncated(path: str) -> None:
  """An mp4 cut in half: its index (moov atom, written last by OpenCV) is lost."""
  write_ramp(path, 20)
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:len(data) // 2])


def frame_index(rgb: np.ndarray) -> float:
  return float(rgb.mean()) / GREY_STEP


def write_dummy_videos(folder: str) -> None:
  """Videos of the dummy_data items: 1 ramp of 30 frames, 2 of 3 frames, 3 truncated, 4 none."""
  videos = os.path.join(folder, 'MicroLens-100k_videos')
  os.makedirs(videos, exist_ok=True)
  write_ramp(os.path.join(videos, '1.mp4'), 30)
  write_ramp(os.path.join(videos, '2.mp4'), 3)
  write_truncated(os.path.join(videos, '3.mp4'))
