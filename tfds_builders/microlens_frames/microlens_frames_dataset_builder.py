"""`microlens_frames` for `tfds build tfds_builders/microlens_frames`: jaxlens's builder.

The builder is `jaxlens.builders.microlens_frames.MicroLensFrames`; `jaxlens build microlens`
builds the same dataset without TensorFlow.
"""

from jaxlens.builders import microlens_frames


class Builder(microlens_frames.MicroLensFrames):
  """Item frames of MicroLens `toy`, `50k`, `100k` or `1m` (`-crop`: aspect-preserving crop)."""
