r"""SASRec-ID (the paper's "IDRec (SR)" rows): ID item embeddings, in-batch softmax with logQ.

  python -m jaxlens.main --config configs/sasrec_id.py --workdir runs/sasrec_id
  python -m jaxlens.main --config configs/sasrec_id.py:cpu --workdir runs/sasrec_id_cpu \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  return default_config.id_config('sasrec', arg)
