"""jaxlens: MicroLens video recommendation in JAX/Flax NNX."""

__version__ = '0.3.0'
