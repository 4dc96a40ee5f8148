"""Interaction files holding every case the protocol and both build paths must agree on, and
the files of a built dataset, to compare builds byte for byte."""

import itertools
import os
import pathlib

from jaxlens.data import releases
from jaxlens.data import synthetic
from jaxlens.data import tfds_source

# Users out of file order, ties in time (file order decides), repeated items, a user below
# min_seq_len whose items occur nowhere else, a long user whose first items the protocol cuts,
# the largest 64-bit id, a negative timestamp, CRLF and a blank line.
EDGE_CASES_CSV = '\r\n'.join([
    'user,item,timestamp',
    'a,10,300', 'b,7,100', 'a,11,100', 'a,12,300', 'a,10,400', 'a,13,500',
    'short,99,50', 'short,98,60',
    'b,7,200', 'b,8,200', 'b,9,200', 'b,9223372036854775807,250', 'b,5,260',
    '',
    *[f'long,{500 + n},{1000 + n}' for n in range(20)],
    'a,14,-5',
]) + '\r\n'


def pairs_path(folder, suffix: str, release: str = '50k') -> str:
  """Where a `<release>` build finds its pairs file in the manual_dir `folder`."""
  os.makedirs(folder, exist_ok=True)
  return os.path.join(folder, f'{releases.RELEASES[release].prefix}_pairs{suffix}')


def write_edge_cases(folder) -> str:
  path = pairs_path(folder, '.csv')
  with open(path, 'w', encoding='utf-8', newline='') as f:
    f.write(EDGE_CASES_CSV)
  return path


def write_generated(folder, suffix: str, users: int = 600, release: str = '50k') -> str:
  """A synthetic file whose users may be shorter than min_seq_len (min_length 1)."""
  path = pairs_path(folder, suffix, release)
  synthetic.write_interactions(path, synthetic.InteractionSpec(users, 150, seed=3, min_length=1))
  return path


def write_head(source, folder, lines: int) -> str:
  """The first `lines` lines of the real pairs file `source`, byte for byte."""
  path = pairs_path(folder, os.path.splitext(source)[1])
  with open(source, 'rb') as f, open(path, 'wb') as out:
    out.writelines(itertools.islice(f, lines))
  return path


def dataset_files(data_dir, name: str = 'microlens/50k') -> dict[str, bytes]:
  """Every file of the built interactions dataset, by name."""
  folder = tfds_source.built_dir(tfds_source.dataset_names(name)[0], str(data_dir))
  return {path.name: path.read_bytes() for path in sorted(pathlib.Path(folder).iterdir())}
