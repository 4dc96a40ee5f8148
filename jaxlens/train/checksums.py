"""A checksum manifest for each checkpoint step, written inside its commit, checked before a
restore reads it.

Orbax 0.12.8 verifies nothing it reads: TensorStore's zarr3 shard index carries a CRC32C, the
array chunks do not, and Orbax keeps OCDBT's per-process files a restore never opens. Flipped
bytes thus restore silently or fail deep in TensorStore, and a missing file may go unnoticed. The
manifest (`checksums.json` in the step folder) gives every file of the step its size and CRC32C.
On a disk the CRC32C is computed from the bytes; in a bucket it is the one Cloud Storage keeps
for each object, read from a listing, so neither the save nor the check downloads anything.

Two files change while Orbax commits the step, after the manifest is written: the commit marker
(`commit_success.txt`, whose text nothing reads) must only exist, and the step metadata
(`_CHECKPOINT_METADATA`) is compared without the commit time Orbax stamps into it.
"""

from __future__ import annotations

import base64
import json
import os

import google_crc32c

from jaxlens import paths

MANIFEST = 'checksums.json'
COMMIT_MARKER = 'commit_success.txt'
STEP_METADATA = '_CHECKPOINT_METADATA'
_STAMPED = 'commit_timestamp_nsecs'  # the key Orbax writes into STEP_METADATA at the commit
_CHUNK = 1 << 22


def _crc32c(chunks) -> str:
  """CRC32C as Cloud Storage writes it: base64 of the big-endian 4 bytes."""
  checksum = google_crc32c.Checksum()
  for chunk in chunks:
    checksum.update(chunk)
  return base64.b64encode(checksum.digest()).decode()


def _local_files(folder: str) -> dict[str, dict]:
  found = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        crc = _crc32c(iter(lambda: f.read(_CHUNK), b''))  # pylint: disable=cell-var-from-loop
      found[os.path.relpath(path, folder)] = {'size': os.path.getsize(path), 'crc32c': crc}
  return found


def _bucket_files(folder: str) -> dict[str, dict]:
  from google.cloud import storage  # pylint: disable=g-import-not-at-top  # the cloud extra
  bucket, _, prefix = folder.split('://', 1)[1].partition('/')
  prefix = prefix.rstrip('/') + '/'
  return {blob.name[len(prefix):]: {'size': blob.size, 'crc32c': blob.crc32c}
          for blob in storage.Client().list_blobs(bucket, prefix=prefix)
          if not blob.name.endswith('/')}


def _files(folder: str) -> dict[str, dict]:
  """Relative path -> {'size', 'crc32c'} of every file under `folder`."""
  return _local_files(folder) if paths.is_local(folder) else _bucket_files(folder)


def _unstamped(text: str) -> str:
  """The step metadata less Orbax's commit time, in one canonical form."""
  metadata = json.loads(text)
  metadata.pop(_STAMPED, None)
  return json.dumps(metadata, sort_keys=True)


def write(folder: str) -> None:
  """Writes the manifest of the files `folder` holds now (before Orbax commits it)."""
  folder = os.fspath(folder)
  files = {name: entry for name, entry in _files(folder).items()
           if name not in (MANIFEST, COMMIT_MARKER)}
  if STEP_METADATA in files:
    files[STEP_METADATA] = {'crc32c': _crc32c(
        [_unstamped((paths.resolve(folder) / STEP_METADATA).read_text()).encode()])}
  paths.write_json(paths.resolve(folder) / MANIFEST, {'files': files})


def check(folder: str) -> str | None:
  """None when every file the manifest names is there as written; otherwise what is wrong, in a
  few words (the first few files)."""
  folder = os.fspath(folder)
  try:
    wanted = paths.read_json(paths.resolve(folder) / MANIFEST)['files']
  except (OSError, ValueError, KeyError, TypeError) as e:
    return f'{MANIFEST} unreadable ({type(e).__name__})'
  found = _files(folder)
  problems = [] if COMMIT_MARKER in found else [f'{COMMIT_MARKER} missing']
  for name, entry in sorted(wanted.items()):
    if name not in found:
      problems.append(f'{name} missing')
    elif name == STEP_METADATA:
      try:
        text = (paths.resolve(folder) / name).read_text()
        intact = _crc32c([_unstamped(text).encode()]) == entry['crc32c']
      except (OSError, ValueError):  # not UTF-8, not JSON
        intact = False
      if not intact:
        problems.append(f'{name} differs from what was saved')
    elif found[name]['size'] != entry['size']:
      problems.append(f'{name} has {found[name]["size"]} bytes, {entry["size"]} were saved')
    elif found[name]['crc32c'] != entry['crc32c']:
      problems.append(f'{name} fails its checksum')
  if not problems:
    return None
  return ', '.join(problems[:3]) + (f' and {len(problems) - 3} more' if len(problems) > 3 else '')
