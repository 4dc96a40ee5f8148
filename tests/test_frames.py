"""Frame choice and extraction (`jaxlens.builders.frames`) on generated and real videos."""

import glob
import os

import cv2
import numpy as np
import pytest

from jaxlens.builders import frames
from jaxlens.data.tfds_source import decode_jpeg
from tests.tfds_test_videos import frame_index, write_ramp, write_truncated


def reference_indices(frame_count, num_frames, interval):
  """`Data Processing/generate_cover_frames.py`'s frames for an odd clip: {a, a +- k * interval},
  a = count // 2, edges repeated."""
  anchor = frame_count // 2
  offsets = range(-(num_frames // 2), num_frames // 2 + 1)
  return [min(max(anchor + k * interval, 0), frame_count - 1) for k in offsets]


@pytest.mark.parametrize('count,num,interval', [(300, 5, 1), (982, 5, 1), (31, 5, 2), (3, 5, 1),
                                                (1, 5, 1), (10, 3, 4)])
def test_frame_indices_follow_the_reference_without_its_off_by_one(count, num, interval):
  indices, repeated = frames.frame_indices(count, num, interval)
  assert indices == reference_indices(count, num, interval)
  assert repeated == (len(set(indices)) < num)


def test_even_clip_takes_one_more_frame_before_the_middle():
  assert frames.frame_indices(100, 4, 1) == ([48, 49, 50, 51], False)


def test_extracts_the_middle_frames_of_a_known_video(tmp_path):
  path = str(tmp_path / 'ramp.mp4')
  write_ramp(path, 30)
  clip = frames.extract_clip(path, frames.FrameOptions(height=24, width=40))
  assert clip.status == frames.VideoStatus.OK
  assert clip.indices == (13, 14, 15, 16, 17)
  decoded = [decode_jpeg(j, 'test') for j in clip.jpegs]
  assert all(f.shape == (24, 40, 3) for f in decoded)
  # mp4v (limited-range YUV) and JPEG shift a solid grey by ~3 levels: under half a step of 8,
  # so each frame is nearer its own index than its neighbours (an off-by-one misses by 1).
  np.testing.assert_allclose([frame_index(f) for f in decoded], clip.indices, atol=0.49)


def test_short_video_repeats_edge_frames_and_is_flagged(tmp_path):
  path = str(tmp_path / 'short.mp4')
  write_ramp(path, 3)
  clip = frames.extract_clip(path, frames.FrameOptions(height=16, width=16))
  assert clip.status == frames.VideoStatus.SHORT_REPEATED
  assert clip.indices == (0, 0, 1, 2, 2)
  seen = [frame_index(decode_jpeg(j, 'test')) for j in clip.jpegs]
  np.testing.assert_allclose(seen, [0, 0, 1, 2, 2], atol=0.49)


def test_truncated_and_missing_videos_are_flagged_not_raised(tmp_path):
  path = str(tmp_path / 'cut.mp4')
  write_truncated(path)
  options = frames.FrameOptions()
  assert frames.extract_clip(path, options) == frames.Clip((), (), frames.VideoStatus.UNREADABLE)
  missing = frames.extract_clip(str(tmp_path / 'absent.mp4'), options)
  assert missing == frames.Clip((), (), frames.VideoStatus.MISSING)


def test_crop_keeps_the_aspect_ratio_and_squash_does_not():
  # A 40x80 frame, left half black, right half white; a 20x20 centre crop is half of each.
  frame = np.zeros((40, 80, 3), np.uint8)
  frame[:, 40:] = 255
  cropped = frames.resize(frame, 20, 20, frames.ResizeMode.CROP)
  squashed = frames.resize(frame, 20, 20, frames.ResizeMode.SQUASH)
  assert cropped.shape == squashed.shape == (20, 20, 3)
  np.testing.assert_array_equal(cropped[:, :10], 0)
  np.testing.assert_array_equal(cropped[:, 10:], 255)
  np.testing.assert_array_equal(squashed, cv2.resize(frame, (20, 20), interpolation=cv2.INTER_AREA))


def test_decode_jpeg_names_the_source():
  with pytest.raises(Exception, match='item 7 cover: not a decodable image'):
    decode_jpeg(b'garbage', 'item 7 cover')


def test_real_videos_give_five_frames_at_the_requested_size(microlens_data_dir):
  paths = sorted(glob.glob(os.path.join(microlens_data_dir, 'microlens-media', 'videos', '*.mp4')))
  assert len(paths) == 3
  for path in paths:
    count = int(cv2.VideoCapture(path).get(cv2.CAP_PROP_FRAME_COUNT))
    clip = frames.extract_clip(path, frames.FrameOptions(height=112, width=128))
    assert clip.status == frames.VideoStatus.OK, path
    assert list(clip.indices) == reference_indices(count, 5, 1)
    decoded = np.stack([decode_jpeg(j, path) for j in clip.jpegs])
    assert decoded.shape == (5, 112, 128, 3)
    assert decoded.std() > 10, f'{path}: frames look blank'


def test_real_covers_decode(microlens_data_dir):
  paths = sorted(glob.glob(os.path.join(microlens_data_dir, 'microlens-media', 'covers', '*.jpg')))
  assert len(paths) == 10
  for path in paths:
    with open(path, 'rb') as f:
      cover = decode_jpeg(f.read(), path)
    assert cover.shape == (360, 640, 3) and cover.std() > 10, path
