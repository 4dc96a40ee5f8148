"""A title feature table: TF-IDF over word and character n-grams, reduced by truncated SVD.

Word 1-2-grams carry the topic words and hashtags; character 2-4-grams within words survive the
spelling and segmentation noise of machine-translated titles. Both are sublinear TF-IDF,
L2-normalised, side by side; a randomized truncated SVD with a fixed seed (and sign convention)
reduces them to `dim` columns, so the same files always give the same table. Extra columns can
join: the category as one-hot columns (`tags_to_summary.csv`) and log1p(likes), log1p(views).
The titles come from MicroLens's title files, or from any built items dataset (a custom
dataset's titles and category columns).
A pretrained text encoder can replace the TF-IDF part later: the table format stays.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from jaxlens.data import item_features
from jaxlens.builders import item_files
from jaxlens.errors import JaxlensError

WORD_NGRAMS, CHAR_NGRAMS, MIN_DF = (1, 2), (2, 4), 2


def sha256(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


class TitleVectors:
  """TF-IDF and SVD fitted on a table's titles; `vectors` are theirs, `transform` gives other
  titles (items added later) the same map. Fitting is deterministic, so fitting the same titles
  again gives the same map."""

  def __init__(self, texts: list[str], dim: int, seed: int = 0):
    make = lambda **kwargs: TfidfVectorizer(sublinear_tf=True, min_df=MIN_DF, dtype=np.float32,
                                            **kwargs)
    self._tfidf = [make(analyzer='word', ngram_range=WORD_NGRAMS),
                   make(analyzer='char_wb', ngram_range=CHAR_NGRAMS)]
    matrix = scipy.sparse.hstack([t.fit_transform(texts) for t in self._tfidf]).tocsr()
    if dim >= min(matrix.shape):
      raise JaxlensError(f'dim {dim}: the titles give a {matrix.shape} TF-IDF matrix; choose a '
                         'smaller dim')
    self._svd = TruncatedSVD(dim, algorithm='randomized', n_iter=7, random_state=seed)
    self.vectors = self._svd.fit_transform(matrix).astype(np.float32)
    self.explained = float(self._svd.explained_variance_ratio_.sum())

  def transform(self, texts: list[str]) -> np.ndarray:
    matrix = scipy.sparse.hstack([t.transform(texts) for t in self._tfidf]).tocsr()
    return self._svd.transform(matrix).astype(np.float32)


def text_vectors(texts: list[str], dim: int, seed: int = 0) -> tuple[np.ndarray, float]:
  """`(len(texts), dim)` SVD components of the texts' TF-IDF, and the variance they explain."""
  fitted = TitleVectors(texts, dim, seed)
  return fitted.vectors, fitted.explained


def one_hot_columns(values: list[str], names: list[str]) -> np.ndarray:
  """`(len(values), len(names))`: 1 in the column of each value's name; '' or an unknown name
  gives a zero row."""
  columns = np.zeros((len(values), len(names)), np.float32)
  index = {name: i for i, name in enumerate(names)}
  for row, value in enumerate(values):
    if value in index:
      columns[row, index[value]] = 1
  return columns


def _one_hot(values: list[str]) -> tuple[np.ndarray, list[str]]:
  names = sorted({value for value in values if value})
  return one_hot_columns(values, names), names


def _table(item_ids: np.ndarray, titles: list[str], directory: str, dim: int,
           categories: dict[str, list[str]], likes_views: np.ndarray | None,
           sources: dict[str, Any]) -> dict[str, Any]:
  """Writes the table of `item_ids`: title SVD components, then one-hot columns for each
  categorical column (`categories`: name -> value per item) and log1p likes and views."""
  vectors, explained = text_vectors(titles, dim)
  blocks = [vectors]
  columns = [{'name': 'title_svd', 'count': dim}]
  for name, values in categories.items():
    one_hot, names = _one_hot(values)
    blocks.append(one_hot)
    columns.append({'name': name, 'count': len(names), 'values': names})
  if likes_views is not None:
    blocks.append(np.log1p(np.maximum(likes_views, 0)).astype(np.float32))
    columns.append({'name': 'log1p_likes_views', 'count': 2})
  note = {'modality': 'title',
          'method': (f'TF-IDF (sublinear; word {WORD_NGRAMS}-grams + char_wb {CHAR_NGRAMS}-grams, '
                     f'min_df {MIN_DF}) -> randomized truncated SVD (seed 0)'),
          'svd_explained_variance': round(explained, 6), 'columns': columns, **sources}
  return item_features.write(directory, np.concatenate(blocks, axis=1), item_ids, note)


def extract(titles_path: str, directory: str, *, dim: int = 64, categories_path: str = '',
            likes_views_path: str = '') -> dict[str, Any]:
  """Writes the title table of every item of `titles_path` (MicroLens's title files); returns
  its note."""
  titles, _ = item_files.read_titles(titles_path, item_files.ANY_ITEM)
  if not titles:
    raise JaxlensError(f'{titles_path}: no titles')
  item_ids = np.array(sorted(titles), np.int64)
  sources = {'titles': os.path.abspath(titles_path), 'titles_sha256': sha256(titles_path)}
  known = set(item_ids.tolist())
  categories, likes_views = {}, None
  if categories_path:
    by_item, _ = item_files.read_categories(categories_path, known)
    categories['category'] = [by_item.get(item, '') for item in item_ids]
    sources.update(categories=os.path.abspath(categories_path),
                   categories_sha256=sha256(categories_path))
  if likes_views_path:
    counts, _ = item_files.read_likes_and_views(likes_views_path, known)
    likes_views = np.array([counts.get(item, (0, 0)) for item in item_ids], np.float64)
    sources.update(likes_views=os.path.abspath(likes_views_path),
                   likes_views_sha256=sha256(likes_views_path))
  return _table(item_ids, [titles[item] for item in item_ids], directory, dim, categories,
                likes_views, sources)


def extract_from_dataset(items: Any, directory: str, *, dim: int = 64) -> dict[str, Any]:
  """Writes the title table of the items of a built items dataset (`tfds_source.ItemTexts`):
  its titles, one-hot columns for each of its category columns, and log1p likes and views when
  it has them. Items without a title are left out."""
  titled = [n for n, title in enumerate(items.titles) if title]
  if not titled:
    raise JaxlensError(f'{items.name}: no item has a title')
  categories = {name: [values[n] for n in titled] for name, values in items.categories.items()
                if any(values)}
  likes_views = items.likes_views[titled] if (items.likes_views >= 0).any() else None
  return _table(items.item_ids[titled], [items.titles[n] for n in titled], directory, dim,
                categories, likes_views, {'dataset': items.name, 'dataset_dir': items.path})
