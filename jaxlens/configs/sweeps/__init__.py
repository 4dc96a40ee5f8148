"""The sweeps that ship with jaxlens, found by name: `jaxlens sweep table6:toy` is `table6.py`."""
