"""Paths that may be local or in a bucket (`gs://...`), through `etils.epath`.

Every file jaxlens reads or writes itself (pairs files, config.json, results.json, TensorBoard
events, converted weights, built datasets) goes through here, so a workdir or data dir on
Cloud Storage works as a local one. Orbax (TensorStore) takes the same strings natively.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from etils import epath


def is_local(path: str | os.PathLike) -> bool:
  return '://' not in os.fspath(path)


def resolve(path: str | os.PathLike) -> epath.Path:
  """Local paths made absolute (the working directory may change); bucket paths as given."""
  return epath.Path(os.path.abspath(path) if is_local(path) else os.fspath(path))


def local_companion(workdir: str | os.PathLike, name: str) -> epath.Path:
  """`WORKDIR/name` for a local workdir; for one in a bucket, `$TMPDIR/jaxlens/<bucket path>/
  name` on this host, for what must stay local (log files appended to, caches read often)."""
  if is_local(workdir):
    return resolve(workdir) / name
  return epath.Path(tempfile.gettempdir()) / 'jaxlens' / os.fspath(workdir).split('://', 1)[1] \
      / name


def write_json(path: str | os.PathLike, value: Any) -> None:
  """Writes JSON so a reader never sees half a file: a local rename, or one object upload."""
  target = resolve(path)
  text = json.dumps(value, indent=1)
  if not is_local(target):
    target.write_text(text)
    return
  partial = target.parent / f'{target.name}.tmp'
  partial.write_text(text)
  os.replace(partial, target)


def read_json(path: str | os.PathLike) -> Any:
  return json.loads(resolve(path).read_text())
