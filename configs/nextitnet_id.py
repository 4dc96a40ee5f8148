r"""NextItNet-ID (the paper's "IDRec (SR)" rows): ID item embeddings, in-batch softmax with logQ.

  python -m jaxlens.main --config configs/nextitnet_id.py --workdir runs/nextitnet_id
  python -m jaxlens.main --config configs/nextitnet_id.py:cpu --workdir runs/nextitnet_id_cpu \
      --config.data.pairs_path=$MICROLENS_DATA_DIR/microlens-50k/MicroLens-50k_pairs.tsv
"""

from jaxlens import default_config


def get_config(arg: str | None = None):
  return default_config.id_config('nextitnet', arg)
