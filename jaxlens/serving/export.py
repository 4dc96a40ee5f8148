"""Writing an export of a restored run, and reading one back beside the run it came from.

The item table is the user tower's view of every item (`Evaluation.tables`: video items through
the trained encoder, a graph tower's propagated vectors), made once. The query and score
functions are the model's own (`eval_queries`, `score`), with the trained weights (and a graph
tower's propagated user vectors) as constants, serialized with `jax.export` for every platform in
`PLATFORMS`; `exported.Export` loads them without jaxlens's model code. The note records what
made the export (model, config, step, the weights' fingerprint, jaxlens's version), so an export
is only ever used with the run it came from.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

import jaxlens
from jaxlens.errors import JaxlensError
from jaxlens.models.user_towers import Tables
from jaxlens.serving import exported, index
from jaxlens.serving.restore import Restored

PLATFORMS = ('cpu', 'cuda', 'tpu')


def _functions(restored: Restored, host_tables: Tables, dim: int):
  """(query, score) as `jax.export.Exported`, batch and table sizes symbolic."""
  states = jax.device_get(restored.states)
  model = lambda: restored.evaluation.model(states)
  batch, rows = jax.export.symbolic_shape('batch, rows')
  items = jax.ShapeDtypeStruct((rows, dim), jnp.float32)
  export = lambda fn: jax.export.export(jax.jit(fn), platforms=PLATFORMS)
  if restored.user_spec.reads_history:

    def query(items, history):
      zeros = jnp.zeros(history.shape[:1], jnp.int32)  # the user's row: unread
      return model().eval_queries(Tables(items), history, zeros)

    history = jax.ShapeDtypeStruct((batch, restored.data.max_seq_len), jnp.int32)
    query_function = export(query)(items, history)
  else:
    users = host_tables.users

    def query(user_rows):
      tables = Tables(jnp.zeros((1, dim), jnp.float32), None if users is None else users)
      return model().eval_queries(tables, jnp.zeros(user_rows.shape + (0,), jnp.int32),
                                  user_rows)

    query_function = export(query)(jax.ShapeDtypeStruct((batch,), jnp.int32))
  queries = jax.tree.unflatten(query_function.out_tree, [
      jax.ShapeDtypeStruct(a.shape, a.dtype) for a in query_function.out_avals])
  score_function = export(lambda q, items: model().score(q, items))(queries, items)
  return query_function, score_function


def write(restored: Restored, directory: str, with_index: bool = False) -> dict:
  """Writes the export of `restored` to `directory` (which must not exist), with the approximate
  index of its table when `with_index`; returns the note."""
  if os.path.exists(directory):
    raise JaxlensError(f'--out {directory} exists: remove it, or choose another folder')
  parent = os.path.dirname(os.path.abspath(directory))
  if not os.path.isdir(parent):
    raise JaxlensError(f'--out {directory}: the folder {parent} does not exist')
  if with_index and not restored.scores_by_dot:
    raise JaxlensError(f'the {restored.user_spec.name} user tower scores (user, item) pairs with '
                       'a network: no inner-product index can search it (export without --index)')
  tables = jax.device_get(restored.tables)
  rows = restored.data.num_items + 1
  items = np.asarray(tables.items[:rows], np.float32)
  query_function, score_function = _functions(restored, tables, items.shape[1])
  partial = tempfile.mkdtemp(prefix=f'.{os.path.basename(directory)}.', dir=parent)
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(partial, 0o777 & ~umask)  # mkdtemp's folder is private
  try:
    files = {'items': f'items-{rows}.npy', 'item_ids': f'item_ids-{rows}.npy',
             'query': 'query.bin', 'score': 'score.bin'}
    np.save(os.path.join(partial, files['items']), items)
    np.save(os.path.join(partial, files['item_ids']),
            np.asarray(restored.data.original_item_ids, np.int64))
    for name, function in (('query', query_function), ('score', score_function)):
      with open(os.path.join(partial, files[name]), 'wb') as f:
        f.write(function.serialize())
    if with_index:
      files['index'] = f'index-{rows}'
      os.mkdir(os.path.join(partial, files['index']))
      index.build(items).save(os.path.join(partial, files['index']))
    spec = restored.user_spec
    note = {
        'format': exported.FORMAT, 'jaxlens_version': jaxlens.__version__,
        'model': {'user_tower': spec.name, 'item_tower': restored.config.model.item_tower},
        'fingerprint': restored.fingerprint, 'step': restored.step, 'epoch': restored.epoch,
        'workdir': os.path.abspath(restored.workdir), 'dim': int(items.shape[1]),
        'items': rows - 1, 'trained_items': rows - 1, 'platforms': list(PLATFORMS),
        'scoring': 'dot' if restored.scores_by_dot else 'pair',
        'query': {'input': 'history' if spec.reads_history else 'user_rows',
                  'history_length': restored.data.max_seq_len},
        'users': [] if spec.reads_history else list(restored.data.users),
        'new_items': {}, 'files': files, 'config': restored.config.to_dict(),
    }
    _write_note(partial, note)
    os.rename(partial, directory)
  finally:
    if os.path.exists(partial):
      shutil.rmtree(partial)
  return note


def _write_note(directory: str, note: dict) -> None:
  """The note last, atomically: it names the files, so it commits them."""
  path = os.path.join(directory, exported.NOTE_FILE)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(note, f, indent=1, default=str)
  os.replace(path + '.tmp', path)


@dataclasses.dataclass
class Served:
  """An export checked against its run, for `recommend --export` and `embed_items`."""

  directory: str
  note: dict
  items: np.ndarray
  original_ids: np.ndarray

  def tables(self, restored: Restored) -> Tables:
    """The export's table (items added later included) as the model scores against it."""
    return Tables(jnp.asarray(self.items), restored.tables.users)

  def index_search(self, restored: Restored, tables: Tables, queries, *, k: int,
                   keep_seen: bool) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) `(n, k)` from the export's approximate index."""
    from jaxlens.serving import recommendations  # pylint: disable=g-import-not-at-top
    if 'index' not in self.note['files']:
      raise JaxlensError(f'{self.directory} has no index: export again with --index')
    searcher = index.ItemIndex.load(os.path.join(self.directory, self.note['files']['index']))
    vectors = recommendations.query_vectors(restored, queries, tables)
    seen = np.zeros_like(queries.seen[:, :1]) if keep_seen else queries.seen
    return searcher.search_rows(vectors, k, seen)

  def check_new(self, item_ids) -> None:
    """New items need ids the export does not hold."""
    known = set(self.original_ids.tolist())
    clash = [int(item) for item in item_ids if int(item) in known]
    if clash:
      raise JaxlensError(f'{self.directory} already holds item(s) '
                         f'{", ".join(map(str, clash[:5]))}: new items need new ids')

  def describe(self, item: int) -> tuple[str, str]:
    found = self.note['new_items'].get(str(item), {})
    return found.get('title', ''), found.get('category', '')


def read(directory: str, restored: Restored) -> Served:
  """The export in `directory`, which must be of `restored`'s weights and this jaxlens."""
  try:
    note = exported.read_note(directory)
  except exported.ExportError as e:
    raise JaxlensError(str(e)) from None
  if note['jaxlens_version'] != jaxlens.__version__:
    raise JaxlensError(f'{directory} was exported by jaxlens {note["jaxlens_version"]}, this is '
                       f'{jaxlens.__version__}: export {restored.workdir} again')
  if note['fingerprint'] != restored.fingerprint:
    model = note['model']
    raise JaxlensError(f'{directory} is an export of another model ({model["user_tower"]} / '
                       f'{model["item_tower"]}, step {note["step"]} of {note["workdir"]}), not '
                       f'of the best step of {restored.workdir}')
  files = note['files']
  return Served(directory, note, np.load(os.path.join(directory, files['items'])),
                np.load(os.path.join(directory, files['item_ids'])))


def append(served: Served, item_ids: np.ndarray, vectors: np.ndarray,
           descriptions: dict[int, tuple[str, str]]) -> dict:
  """Adds items (ids in the source data, their table vectors) to the export: new table files,
  then the note that names them; the old files go once the note is replaced."""
  served.check_new(item_ids)
  rows = len(served.original_ids) + len(item_ids)
  items = np.concatenate([served.items, np.asarray(vectors, np.float32)])
  ids = np.concatenate([served.original_ids, np.asarray(item_ids, np.int64)])
  note = json.loads(json.dumps(served.note))
  old = dict(note['files'])
  note['files'].update(items=f'items-{rows}.npy', item_ids=f'item_ids-{rows}.npy')
  if 'index' in old:
    note['files']['index'] = f'index-{rows}'
    searcher = index.ItemIndex.load(os.path.join(served.directory, old['index']))
    searcher.add(np.asarray(vectors, np.float32), len(served.original_ids))
    folder = os.path.join(served.directory, note['files']['index'])
    shutil.rmtree(folder, ignore_errors=True)  # a previous append that stopped before its note
    os.mkdir(folder)
    searcher.save(folder)
  note['items'] = rows - 1
  for item in item_ids:
    title, category = descriptions.get(int(item), ('', ''))
    note['new_items'][str(int(item))] = {'title': title, 'category': category}
  for key, value in (('items', items), ('item_ids', ids)):
    path = os.path.join(served.directory, note['files'][key])
    with open(path + '.tmp', 'wb') as f:
      np.save(f, value)
    os.replace(path + '.tmp', path)
  _write_note(served.directory, note)
  for key in ('items', 'item_ids'):
    os.remove(os.path.join(served.directory, old[key]))
  if 'index' in old:
    shutil.rmtree(os.path.join(served.directory, old['index']))
  return note
