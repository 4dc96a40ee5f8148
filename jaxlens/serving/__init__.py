"""Serving a trained run: recommendations, an exported model, and items added after training.

- `restore`: the best committed checkpoint of a workdir, with the run's own config.
- `histories`: who is asked about and what is known of them (the protocol's rows, cut where the
  evaluation cuts them, or a history given by item ids).
- `retrieval`: exact top-K, sharded over the mesh (users over `data`, items over `model`).
- `recommendations`: the recommend command's work, from users to ranked items.
- `output`: writing recommendations (JSONL, CSV, Parquet) atomically, and the terminal table.
- `item_info`: original ids, titles and categories of items.
- `export`: what a service needs (the item table, the query and score functions serialized with
  `jax.export`), written and checked against the run.
- `exported`: an export loaded with numpy and `jax.export` alone, no jaxlens model code.
- `saved_model`: an export as a TensorFlow SavedModel (run in the build venv, beside TensorFlow).
- `new_items`: content of items added after training, read as the builders read it, encoded.
- `index`: the approximate nearest-neighbour index (FAISS) over an exported table.

This package imports nothing at its top, so `exported` and `saved_model` load without the models.
"""
