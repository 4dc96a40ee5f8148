"""TFDS builders of jaxlens for `tfds build`; `jaxlens build` builds the same datasets."""
