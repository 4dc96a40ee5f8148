"""Kinds of model variables besides parameters and statistics."""

from flax import nnx


class DataArray(nnx.Variable):
  """An array a model derives from its data and reads but never learns: a graph's edges (from
  the training interactions), a frozen item-feature table (from its file on disk).

  It is rebuilt with the model at every start, gets no gradient and no optimizer state, and is
  left out of checkpoints: it can be as large as the data (12 bytes an edge, 12 GB for
  MicroLens' 1B interactions).
  """
