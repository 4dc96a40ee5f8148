r"""An export as a TensorFlow SavedModel for TF Serving, through `jax2tf`.

  python -m jaxlens.serving.saved_model --export exports/toy --out saved_models/toy

Runs in the build venv (requirements-build.txt: TensorFlow beside JAX, without jaxlens's models):
TensorFlow 2.21 needs numpy<2.5, the training venv pins 2.5. The export's own `jax.export`
functions are wrapped, so the SavedModel computes exactly what they do. Signatures:
  `scores(history)` or `scores(user_rows)`: float32 `(B, rows)`, every table row scored (row 0 is
  padding), the item table held in the model as a variable;
  `query(...)`: the queries those scores come from.
The item ids `(rows,)` are saved beside it (`item_ids.npy`). The folder appears whole or not at
all; errors are one `error:` line, exit status 2.

TensorFlow's `XlaCallModule` reads StableHLO up to its own version (1.13.7 in TensorFlow 2.21),
while JAX writes the newest its 4-week compatibility window allows (1.18 in JAX 0.12): the
SavedModel's modules are written at TensorFlow's version, which holds every operation the
jaxlens models use.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile

import numpy as np

from jaxlens.serving import exported


@contextlib.contextmanager
def _stablehlo_that_tensorflow_reads():
  """JAX's serializer, pinned to the StableHLO version of this TensorFlow while converting."""
  # pylint: disable=g-import-not-at-top,protected-access
  from unittest import mock
  from jax._src import xla_bridge
  from jax._src.export import _export
  from jax._src.lib import _jax
  from tensorflow.compiler.mlir.stablehlo import stablehlo
  version = stablehlo.get_current_version()

  def bytecode(module):
    return _jax.mlir.serialize_portable_artifact(module, version,
                                                 xla_bridge.get_backend().serialize_with_sdy)

  with mock.patch.object(_export, '_module_to_bytecode', bytecode):
    yield


def convert(export_dir: str, out: str) -> None:
  """Writes the SavedModel of the export in `export_dir` to `out` (which must not exist)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from jax.experimental import jax2tf  # pylint: disable=g-import-not-at-top
  served = exported.Export.load(export_dir)
  module = tf.Module()
  module.items = tf.Variable(served.items, trainable=False, name='items')
  # The batch and the table's rows stay symbolic, as in the export.
  score = jax2tf.convert(lambda q, items: served.score_function.call(q, items),
                         polymorphic_shapes=['(b, ...)', '(r, _)'], with_gradient=False)
  if served.reads_history:
    query = jax2tf.convert(lambda items, history: served.query_function.call(items, history),
                           polymorphic_shapes=['(r, _)', '(b, _)'], with_gradient=False)
    spec = tf.TensorSpec([None, served.history_length], tf.int32, name='history')
    module.query = tf.function(lambda history: query(module.items, history),
                               input_signature=[spec], autograph=False)
  else:
    query = jax2tf.convert(lambda rows: served.query_function.call(rows),
                           polymorphic_shapes=['(b,)'], with_gradient=False)
    spec = tf.TensorSpec([None], tf.int32, name='user_rows')
    module.query = tf.function(lambda rows: query(rows), input_signature=[spec],
                               autograph=False)
  module.scores = tf.function(lambda x: score(module.query(x), module.items),
                              input_signature=[spec], autograph=False)
  parent = os.path.dirname(os.path.abspath(out))
  partial = tempfile.mkdtemp(prefix=f'.{os.path.basename(out)}.', dir=parent)
  try:
    with _stablehlo_that_tensorflow_reads():
      tf.saved_model.save(module, partial, signatures={'scores': module.scores,
                                                       'query': module.query})
    np.save(os.path.join(partial, 'item_ids.npy'), served.item_ids)
    os.rename(partial, out)
  finally:
    if os.path.exists(partial):
      shutil.rmtree(partial)


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser('python -m jaxlens.serving.saved_model', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--export', required=True, help='a folder of jaxlens export')
  parser.add_argument('--out', required=True, help='the SavedModel folder (must not exist)')
  args = parser.parse_args(argv)
  problem = ('' if not os.path.exists(args.out) else
             f'--out {args.out} exists: remove it, or choose another folder')
  if not problem:
    try:
      convert(args.export, args.out)
    except exported.ExportError as e:
      problem = str(e)
  if problem:
    print(f'error: {problem}', file=sys.stderr)
    return 2
  print(f'wrote {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
