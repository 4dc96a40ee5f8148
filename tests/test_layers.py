"""Imports run one way: data -> models -> eval -> train -> the commands, never back up.

Read from the source (no import runs), so a new upward import fails here with its file and line.
"""

import ast
import os

from tests import helpers

# Lower layers first; a module may import its own layer and the layers before it.
LAYERS = (
    ('errors', 'registry', 'config_values', 'paths', 'logs', 'launch', 'sharding', 'cli',
     'process_zero'),
    ('data',),
    ('models', 'convert'),
    ('eval',),
    ('train', 'default_config'),
    ('config_flag', 'configs', 'builders', 'extract', 'sweep', 'report', 'main', 'aot',
     'serving', 'recommend', 'export', 'embed_items'),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _top(module: str) -> str | None:
  """The jaxlens part a dotted module name lies in ('jaxlens.data.pairs' -> 'data')."""
  parts = module.split('.')
  return parts[1] if parts[0] == 'jaxlens' and len(parts) > 1 else None


def _imports(tree: ast.Module):
  """(module, line) of every import, leaving out a `__main__` block's (a command's alias)."""
  main_blocks = [node for node in tree.body if isinstance(node, ast.If)
                 and ast.unparse(node.test) == "__name__ == '__main__'"]
  skipped = {id(n) for block in main_blocks for n in ast.walk(block)}
  for node in ast.walk(tree):
    if id(node) in skipped:
      continue
    if isinstance(node, ast.Import):
      yield from ((alias.name, node.lineno) for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      if node.module == 'jaxlens':  # from jaxlens import data, models
        yield from ((f'jaxlens.{alias.name}', node.lineno) for alias in node.names)
      else:
        yield node.module, node.lineno


def _sources(folder: str):
  for root, _, files in os.walk(os.path.join(helpers.REPO, folder)):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(root, name)
        with open(path, encoding='utf-8') as f:
          yield os.path.relpath(path, helpers.REPO), ast.parse(f.read())


def test_every_jaxlens_module_has_a_layer():
  package = os.path.join(helpers.REPO, 'jaxlens')
  parts = {name.removesuffix('.py') for name in os.listdir(package)
           if not name.startswith('_') and (name.endswith('.py') or
                                            os.path.isdir(os.path.join(package, name)))}
  assert parts - {'__pycache__'} == set(LAYER_OF)


def test_no_import_runs_back_up():
  upward = []
  for path, tree in _sources('jaxlens'):
    own = _top(path.removesuffix('.py').replace(os.sep, '.'))
    if own is None:  # jaxlens/__init__.py
      continue
    for module, line in _imports(tree):
      target = _top(module)
      if target is not None and LAYER_OF[target] > LAYER_OF[own]:
        upward.append(f'{path}:{line} imports {module}')
      if module.startswith('tfds_builders'):
        upward.append(f'{path}:{line} imports {module} (tfds_builders only registers builders)')
  assert not upward, '\n'.join(upward)
