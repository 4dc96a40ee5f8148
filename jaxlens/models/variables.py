"""Kinds of model variables besides parameters and statistics."""

from flax import nnx


class DataArray(nnx.Variable):
  """An array a model derives from the training interactions (a graph's edges).

  It is rebuilt with the model at every start, never trained, and left out of checkpoints: it
  can be as large as the data (12 bytes an edge, 12 GB for MicroLens' 1B interactions).
  """
