"""Clip extraction from one video: which frames, how they are read, resized and JPEG-encoded.

Real MicroLens videos and the synthetic `toy` videos both go through `extract_clip`, so the toy
subset exercises the code path that the 477 GB of real videos take.

Frame choice follows the reference's `Data Processing/generate_cover_frames.py` without its
off-by-one read index: `num_frames` frames `interval` apart, centred on frame `frame_count // 2`
(0-based); indices outside the video are clipped to its first or last frame, which repeats them
as the reference does, and the clip is flagged.
"""

from __future__ import annotations

import dataclasses
import enum
import os

import cv2
import numpy as np

from jaxlens.errors import JaxlensError


class VideoStatus(enum.StrEnum):
  """How an item's frames came to be; stored in every item record."""

  OK = 'ok'
  MISSING = 'missing'  # no video file
  UNREADABLE = 'unreadable'  # the file does not decode (truncated, corrupt): no frames stored
  SHORT_REPEATED = 'short-repeated'  # fewer frames than the clip spans: edge frames repeated
  TRUNCATED = 'truncated'  # fewer frames decode than the header says: clip from what decodes


class ResizeMode(enum.StrEnum):
  SQUASH = 'squash'  # straight to (H, W), aspect ratio lost: the reference's Resize((224, 224))
  CROP = 'crop'  # short side to its target, then a centre crop: aspect ratio kept


@dataclasses.dataclass(frozen=True)
class FrameOptions:
  """What a stored clip looks like; part of a builder config."""

  num_frames: int = 5
  interval: int = 1
  height: int = 224
  width: int = 224
  resize: ResizeMode = ResizeMode.SQUASH
  jpeg_quality: int = 90

  def __post_init__(self):
    if self.num_frames < 1 or self.interval < 1 or self.height < 1 or self.width < 1:
      raise JaxlensError(f'frame options must be positive: {self}')


@dataclasses.dataclass(frozen=True)
class Clip:
  jpegs: tuple[bytes, ...]  # RGB frames encoded as JPEG; empty unless the video decoded
  indices: tuple[int, ...]  # 0-based frame numbers read; empty unless the video decoded
  status: VideoStatus


def frame_indices(frame_count: int, num_frames: int, interval: int) -> tuple[list[int], bool]:
  """Returns the 0-based frames to read and whether some were clipped (repeated)."""
  anchor = frame_count // 2
  wanted = [anchor + (k - num_frames // 2) * interval for k in range(num_frames)]
  clipped = [min(max(i, 0), frame_count - 1) for i in wanted]
  return clipped, clipped != wanted


def resize(frame: np.ndarray, height: int, width: int, mode: ResizeMode) -> np.ndarray:
  """Resizes one (h, w, 3) frame; area averaging when shrinking (close to PIL's antialiasing)."""
  h, w = frame.shape[:2]
  if mode == ResizeMode.CROP:
    scale = max(height / h, width / w)
    scaled_h, scaled_w = max(height, round(h * scale)), max(width, round(w * scale))
  else:
    scaled_h, scaled_w = height, width
  shrinking = scaled_h * scaled_w < h * w
  frame = cv2.resize(frame, (scaled_w, scaled_h),
                     interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
  top, left = (scaled_h - height) // 2, (scaled_w - width) // 2
  return frame[top:top + height, left:left + width]


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
  ok, buffer = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
  if not ok:
    raise JaxlensError(f'OpenCV could not JPEG-encode a frame of shape {rgb.shape}')
  return buffer.tobytes()


def _read_sequentially(capture: cv2.VideoCapture, indices: list[int]) -> dict[int, np.ndarray]:
  """Decodes forward up to the last wanted frame (faster than seeking: keyframes are sparse)."""
  wanted, frames = set(indices), {}
  for index in range(max(indices) + 1):
    if not capture.grab():
      break
    if index in wanted:
      ok, bgr = capture.retrieve()
      if not ok:
        break
      frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
  return frames


def _count_decodable(path: str) -> int:
  capture = cv2.VideoCapture(path)
  count = 0
  while capture.grab():
    count += 1
  capture.release()
  return count


def extract_clip(path: str | os.PathLike | None, options: FrameOptions) -> Clip:
  """Reads the clip of one video; never raises for a bad video, it reports it in `status`."""
  if path is None or not os.path.isfile(path):
    return Clip((), (), VideoStatus.MISSING)
  path = os.fspath(path)
  capture = cv2.VideoCapture(path)
  frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
  indices, repeated = frame_indices(frame_count, options.num_frames, options.interval)
  frames = _read_sequentially(capture, indices) if frame_count > 0 else {}
  capture.release()
  status = VideoStatus.SHORT_REPEATED if repeated else VideoStatus.OK
  if frame_count > 0 and len(frames) < len(set(indices)):
    # The header promised more frames than decode: centre the clip on what does decode.
    frame_count = _count_decodable(path)
    if frame_count > 0:
      indices, _ = frame_indices(frame_count, options.num_frames, options.interval)
      capture = cv2.VideoCapture(path)
      frames = _read_sequentially(capture, indices)
      capture.release()
      status = VideoStatus.TRUNCATED
  if frame_count <= 0 or len(frames) < len(set(indices)):
    return Clip((), (), VideoStatus.UNREADABLE)
  jpegs = tuple(
      encode_jpeg(resize(frames[i], options.height, options.width, options.resize),
                  options.jpeg_quality) for i in indices)
  return Clip(jpegs, tuple(indices), status)
