r"""Retrieval at catalogue scale: the exact sharded top K against approximate indexes.

  python benchmarks/retrieval.py --export exports/sasrec_id_50k   # + a synthetic 1M-item table

For each table (an export's, with queries from its users' histories through the exported query
function; and a synthetic table of 1M items in 64 dimensions drawn around 1,000 centres, with
queries drawn the same way), prints queries per second and latency for 1 user and for 1,000 at
once, and recall@10 against the exact top 10:
- exact: `jaxlens.serving.retrieval.top_k` on the CPU devices (the one jaxlens recommend runs);
- ScaNN as `jaxlens export --index` builds it (`jaxlens.serving.index`);
- FAISS's IVF-Flat (inner product, 4 sqrt(N) lists, nprobe 16) and HNSW (M 32, efSearch 64),
  when installed: the measurement that picked ScaNN.
Build times are printed too. Threads: all cores. Print `uptime` beside the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from jaxlens.serving import exported, index, retrieval  # pylint: disable=wrong-import-position

K = 10
RULES = (('batch', 'data'), ('items', 'model'))


def export_table(directory: str, users: int, seed: int = 0):
  """(items `(N, D)` without padding, queries `(users, D)`) of an export: the query function
  over histories drawn from its item table's rows (a user's last items stand in for one)."""
  served = exported.Export.load(directory)
  rng = np.random.default_rng(seed)
  rows = rng.integers(1, len(served.items), size=(users, served.history_length))
  queries = np.asarray(served.query(history=rows), np.float32)
  return served.items[1:], queries


def synthetic_table(items: int, users: int, dim: int = 64, seed: int = 0):
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(1000, dim)).astype(np.float32)
  draw = lambda n: (centres[rng.integers(0, 1000, n)] +
                    0.6 * rng.normal(size=(n, dim))).astype(np.float32)
  return draw(items), draw(users)


USER_BATCH = 128  # users scored at once by the exact search: 128 x 1M scores are 0.5 GB


def exact(items: np.ndarray):
  """`search(queries) -> rows (B, K)` of the exact sharded top K (0-based rows), `USER_BATCH`
  users at a time."""
  mesh = jax.make_mesh((1, len(jax.devices())), ('data', 'model'),
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)
  table = jnp.concatenate([jnp.zeros((1, items.shape[1])), jnp.asarray(items)])
  dot = lambda q, t: jnp.einsum('pd,nd->pn', q, t)
  search = jax.jit(lambda q: retrieval.top_k(dot, q, table, jnp.zeros((q.shape[0], 1), jnp.int32),
                                             k=K, num_items=len(items), mesh=mesh,
                                             rules=RULES)[1] - 1)
  return lambda queries: np.concatenate([np.asarray(search(jnp.asarray(
      queries[start:start + USER_BATCH]))) for start in range(0, len(queries), USER_BATCH)])


def timed(search, queries: np.ndarray, repeats: int):
  search(queries)  # compiles, warms caches
  start = time.perf_counter()
  for _ in range(repeats):
    out = search(queries)
  seconds = (time.perf_counter() - start) / repeats
  return out, seconds


def recall(found: np.ndarray, truth: np.ndarray) -> float:
  return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def _faiss_indexes(items: np.ndarray):
  """(name, build) of FAISS's IVF-Flat and HNSW by inner product, the indexes ScaNN was
  measured against; none when FAISS is not installed (pip install faiss-cpu)."""
  try:
    import faiss  # pylint: disable=g-import-not-at-top
  except ImportError:
    print('(FAISS is not installed: pip install faiss-cpu to compare it)')
    return

  def ivf():
    lists = int(4 * np.sqrt(len(items)))
    built = faiss.IndexIVFFlat(faiss.IndexFlatIP(items.shape[1]), items.shape[1], lists,
                               faiss.METRIC_INNER_PRODUCT)
    built.train(items)
    built.add(items)
    built.nprobe = 16
    return built

  def hnsw():
    built = faiss.IndexHNSWFlat(items.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    built.hnsw.efSearch = 64
    built.add(items)
    return built

  yield 'faiss IVF-Flat (nprobe 16)', ivf
  yield 'faiss HNSW (M 32, efSearch 64)', hnsw


def candidates(items: np.ndarray):
  """(name, build seconds, search) of every method; searches give 0-based item positions."""
  start = time.perf_counter()
  search = exact(items)
  yield 'exact (jaxlens, sharded top K)', time.perf_counter() - start, search
  start = time.perf_counter()
  searcher = index.build(np.concatenate([np.zeros_like(items[:1]), items]), K)
  no_exclusion = lambda q: np.zeros((len(q), 1), np.int32)
  yield ('ScaNN (jaxlens --index)', time.perf_counter() - start,
         lambda q: searcher.search_rows(q, K, no_exclusion(q))[1] - 1)
  for name, build in _faiss_indexes(items):
    start = time.perf_counter()
    built = build()
    yield name, time.perf_counter() - start, lambda q, built=built: built.search(q, K)[1]


def report(name: str, items: np.ndarray, queries: np.ndarray) -> None:
  print(f'\n{name}: {len(items):,} items x {items.shape[1]}, {len(queries):,} queries')
  print('| method | build s | 1 user: ms | 1 user: QPS | 1,000 users: ms | 1,000 users: QPS | '
        'recall@10 |')
  print('|---|---:|---:|---:|---:|---:|---:|')
  truth = None
  for method, build, search in candidates(items):
    one, one_seconds = timed(search, queries[:1], 20)
    many, many_seconds = timed(search, queries, 3)
    truth = many if truth is None else truth
    print(f'| {method} | {build:.1f} | {one_seconds * 1e3:.2f} | {1 / one_seconds:,.0f} | '
          f'{many_seconds * 1e3:,.0f} | {len(queries) / many_seconds:,.0f} | '
          f'{recall(many, truth):.4f} |', flush=True)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--export', help='an export folder (the MicroLens-50K run\'s)')
  parser.add_argument('--synthetic_items', type=int, default=1_000_000)
  parser.add_argument('--users', type=int, default=1000)
  args = parser.parse_args()
  if args.export:
    report(f'export {args.export}', *export_table(args.export, args.users))
  if args.synthetic_items:
    report('synthetic', *synthetic_table(args.synthetic_items, args.users))
  print(f'\nload average: {os.getloadavg()}')


if __name__ == '__main__':
  main()
