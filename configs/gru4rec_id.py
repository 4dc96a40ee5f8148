r"""GRU4Rec-ID (the paper's "IDRec (SR)" rows): ID item embeddings, in-batch softmax with logQ.

  python -m jaxlens.main --config configs/gru4rec_id.py --workdir runs/gru4rec_id
  python -m jaxlens.main --config configs/gru4rec_id.py:cpu --workdir runs/gru4rec_id_cpu \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  return default_config.id_config('gru4rec', arg, num_blocks=1)  # one GRU layer, as the reference runs
