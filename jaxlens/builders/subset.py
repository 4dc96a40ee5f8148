"""Builds both datasets of one MicroLens subset, or checks that they are built.

`build_subset` writes `microlens/<release>` (interactions) and `microlens_frames/<config>` (items;
not for `full`) in the array_record format `jaxlens.data.tfds_source` reads. An interrupted build
resumes: finished extraction shards in `<data_dir>/downloads/microlens_frames_work/` are kept.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from jaxlens.builders import sources
from jaxlens.builders.beam_import import beam_module
from jaxlens.data import releases
from jaxlens.data import tfds_source
from jaxlens.data.tfds_source import dataset_names
from jaxlens.errors import JaxlensError
from jaxlens.builders.microlens import MicroLens
from jaxlens.builders.microlens_frames import MicroLensFrames


def pipeline_options(flags: str):
  """Beam options from TFDS's command-line form: `runner=DataflowRunner,project=P,...`."""
  options = beam_module('apache_beam.options.pipeline_options')
  return options.PipelineOptions(flags=[f'--{flag}' for flag in flags.split(',')])


def build_subset(config: str, data_dir: str | None = None, manual_dir: str | None = None,
                 num_workers: int | None = None, engine: str | None = None,
                 beam_pipeline_options: str | None = None) -> None:
  """Builds the datasets of `config` ('toy', '50k', '100k-crop', ...) and prints a report.

  `engine` ('memory', 'beam'; None chooses) and `beam_pipeline_options` concern the interactions.
  """
  interactions, items = (n.split('/')[1] for n in dataset_names(f'microlens/{config}'))
  release = releases.RELEASES[interactions]
  if manual_dir is not None:
    sources.manual_files(release, manual_dir)  # fails early, naming the files wanted
  download_config = tfds.download.DownloadConfig(
      manual_dir=manual_dir,
      beam_options=pipeline_options(beam_pipeline_options) if beam_pipeline_options else None)
  builders = [MicroLens(config=interactions, data_dir=data_dir, engine=engine)]
  if release.has_frames:
    builders.append(MicroLensFrames(config=items, data_dir=data_dir, num_workers=num_workers))
  for builder in builders:
    print(f'building {builder.name}/{builder.builder_config.name} in {builder.data_dir}',
          flush=True)
    builder.download_and_prepare(download_config=download_config)
  summary = builders[0].info.metadata['protocol']
  print(f'{builders[0].info.splits[tfds_source.RAW_SPLIT].num_examples} users; the protocol '
        f'keeps {summary["num_users"]} users, {summary["num_items"]} items, '
        f'{summary["num_interactions"]} interactions')
  if release.has_frames:
    metadata = builders[1].info.metadata
    print(f'{len(metadata["item_ids"])} items with frames; video status: '
          f'{metadata["video_status_counts"]}; lines about items not in the subset: '
          f'{metadata["unknown_item_lines"]}')


def ensure_built(name: str, data_dir: str | None = None) -> None:
  """Builds the synthetic `toy` subset when missing (seconds); for a real one, says how. A
  custom dataset needs its interactions; its items only for content towers, which say so."""
  interactions, frames = dataset_names(name)
  has_frames = (not tfds_source.is_custom(name) and
                releases.RELEASES[interactions.split('/')[1]].has_frames)
  wanted = [interactions] + ([frames] if has_frames else [])
  missing = [d for d in wanted if tfds_source.built_dir(d, data_dir) is None]
  if not missing:
    return
  if dataset_names(name)[0] != f'{tfds_source.INTERACTIONS}/toy':
    raise JaxlensError(
        f'{", ".join(missing)} not built in {tfds_source.data_dir_path(data_dir)}: build with '
        f'{tfds_source.build_command(name, data_dir)}. For an end-to-end run without any '
        'download, use the synthetic toy subset: --config sasrec_v:toy')
  build_subset(name.split('/')[1], data_dir=data_dir)
