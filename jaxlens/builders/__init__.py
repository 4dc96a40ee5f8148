"""Building MicroLens datasets (TFDS builders' sources, frame extraction, the toy subset).

Reading them back is `jaxlens.data`, which never imports this package.
"""
