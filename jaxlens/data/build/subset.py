"""Builds both datasets of one MicroLens subset, or checks that they are built.

`build_subset` writes `microlens/<release>` (interactions) and `microlens_frames/<config>` (items)
in the array_record format `jaxlens.data.tfds_source` reads. An interrupted build resumes:
finished extraction shards in `<data_dir>/downloads/microlens_frames_work/` are kept.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from jaxlens.data.build import sources
from jaxlens.data import releases
from jaxlens.data import tfds_source
from jaxlens.data.tfds_source import dataset_names
from jaxlens.errors import JaxlensError
from tfds_builders.microlens import microlens_dataset_builder
from tfds_builders.microlens_frames import microlens_frames_dataset_builder


def build_subset(config: str, data_dir: str | None = None, manual_dir: str | None = None,
                 num_workers: int | None = None) -> None:
  """Builds both datasets of `config` ('toy', '50k', '100k-crop', ...) and prints a report."""
  interactions, items = (n.split('/')[1] for n in dataset_names(f'microlens/{config}'))
  release = releases.RELEASES[interactions]
  if manual_dir is not None:
    sources.manual_files(release, manual_dir)  # fails early, naming the files wanted
  download_config = tfds.download.DownloadConfig(manual_dir=manual_dir)
  builders = (
      microlens_dataset_builder.Builder(config=interactions, data_dir=data_dir),
      microlens_frames_dataset_builder.Builder(config=items, data_dir=data_dir,
                                               num_workers=num_workers))
  for builder in builders:
    print(f'building {builder.name}/{builder.builder_config.name} in {builder.data_dir}',
          flush=True)
    builder.download_and_prepare(download_config=download_config)
  metadata = builders[1].info.metadata
  print(f'{builders[0].info.splits["train"].num_examples} users, '
        f'{len(metadata["item_ids"])} items; video status: {metadata["video_status_counts"]}; '
        f'lines about items not in the subset: {metadata["unknown_item_lines"]}')


def ensure_built(name: str, data_dir: str | None = None) -> None:
  """Builds the synthetic `toy` subset when missing (seconds); for a real one, says how."""
  missing = [d for d in dataset_names(name) if tfds_source.built_dir(d, data_dir) is None]
  if not missing:
    return
  if dataset_names(name)[0] != f'{tfds_source.INTERACTIONS}/toy':
    raise JaxlensError(
        f'{", ".join(missing)} not built in {tfds_source.data_dir_path(data_dir)}: build with '
        f'{tfds_source.build_command(name, data_dir)}. For an end-to-end run without any '
        'download, use the synthetic toy subset: --config configs/sasrec_v.py:toy')
  build_subset(name.split('/')[1], data_dir=data_dir)
