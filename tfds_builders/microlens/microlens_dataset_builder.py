"""`microlens` for `tfds build tfds_builders/microlens`: jaxlens's builder, registered.

The builder is `jaxlens.builders.microlens.MicroLens`; `jaxlens build microlens` builds the same
dataset without TensorFlow.
"""

from jaxlens.builders import microlens


class Builder(microlens.MicroLens):
  """Interactions of MicroLens `toy`, `50k`, `100k`, `1m` or `full`."""
