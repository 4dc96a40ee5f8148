"""jaxlens: MicroLens video recommendation in JAX/Flax NNX."""
