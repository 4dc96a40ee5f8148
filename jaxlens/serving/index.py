"""The approximate nearest-neighbour index of an export's table (ScaNN), behind `--index`.

ScaNN was picked by measurement (benchmarks/retrieval.py; docs/serving.md): it was the only index
near recall@10 0.99 on both the MicroLens-50K table (0.995, at twice the exact top K's rate for
1,000 users) and a synthetic 1M-item one (0.997, 50x), where FAISS's IVF-Flat found 0.72 on the
real table and its HNSW 0.89 on the 1M one. Items added after training join it at once
(`upsert`). The searcher: a k-means tree of 2 sqrt(N) leaves of which 10% are searched, scored
by asymmetric hashing (2 dimensions a block), the best 100 rescored exactly; small tables (under
`BRUTE_FORCE_BELOW` items) are searched exactly. Only dot-product towers can be searched this way: a pair-scoring tower's score is no
inner product.

Documents are table rows (row 0 is padding and never indexed), so results are rows.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scann

BRUTE_FORCE_BELOW = 2_000
REORDER = 100
# 1 in SEARCHED leaves is searched: at 1 in 20, recall@10 on the MicroLens-50K table varied from
# 0.88 to 0.99 between builds (k-means draws its start); 1 in 10 gave 0.995-0.999.
SEARCHED = 10


@dataclasses.dataclass
class ItemIndex:
  searcher: object  # scann_ops_pybind.ScannSearcher

  @property
  def size(self) -> int:
    return self.searcher.size()

  def search_rows(self, queries: np.ndarray, k: int, exclude: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(inner products, table rows) `(B, k)` best first, without each user's `exclude` rows
    (0 = none); `-inf` where fewer than k are found."""
    wanted = min(self.size, k + exclude.shape[1])
    found, scores = self.searcher.search_batched(np.ascontiguousarray(queries, np.float32),
                                                 final_num_neighbors=wanted)
    rows = np.asarray(found, np.int64).astype(np.int32)  # docids are the rows
    keep = ~(rows[:, :, None] == exclude[:, None, :]).any(-1)
    out_scores = np.full((len(rows), k), -np.inf, np.float32)
    out_rows = np.zeros((len(rows), k), np.int32)
    for user in range(len(rows)):
      kept = np.nonzero(keep[user])[0][:k]
      out_scores[user, :len(kept)] = scores[user, kept]
      out_rows[user, :len(kept)] = rows[user, kept]
    return out_scores, out_rows

  def add(self, vectors: np.ndarray, first_row: int) -> None:
    """Rows `first_row..` appended to the table, searchable at once."""
    docids = [str(row) for row in range(first_row, first_row + len(vectors))]
    self.searcher.upsert(docids, np.ascontiguousarray(vectors, np.float32),
                         batch_size=len(docids))

  def save(self, directory: str) -> None:
    self.searcher.serialize(directory, relative_path=True)

  @classmethod
  def load(cls, directory: str) -> ItemIndex:
    return cls(scann.scann_ops_pybind.load_searcher(directory))


def build(table: np.ndarray, k: int = 10) -> ItemIndex:
  """The index of an export's table `(rows, D)` (row 0, padding, left out)."""
  items = np.ascontiguousarray(table[1:], np.float32)
  builder = scann.scann_ops_pybind.builder(items, k, 'dot_product')
  if len(items) < BRUTE_FORCE_BELOW:
    builder = builder.score_brute_force()
  else:
    leaves = int(2 * np.sqrt(len(items)))
    builder = builder.tree(num_leaves=leaves, num_leaves_to_search=max(1, leaves // SEARCHED),
                           training_sample_size=min(len(items), 250_000)).score_ah(
                               2, anisotropic_quantization_threshold=0.2).reorder(REORDER)
  return ItemIndex(builder.build(docids=[str(row) for row in range(1, len(table))]))
