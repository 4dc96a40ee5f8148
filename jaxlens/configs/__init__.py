"""The configs that ship with jaxlens, found by name: `--config sasrec_v:toy` is `sasrec_v.py`."""
