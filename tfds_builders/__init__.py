"""TFDS builders of jaxlens; build with `python -m jaxlens.data.build` or `tfds build`."""
