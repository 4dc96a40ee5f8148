"""`jaxlens build custom`: a dataset of one's own, built whole or not at all.

Everything is checked that can be before the long work (the name, files, columns, folders, and
whether the name is taken). The datasets are then built in a staging folder of the data dir,
`custom/incomplete.<name>.<random>/`, and moved to `custom/<name>/<version>` and
`custom_frames/<name>/<version>` only once both are complete, with `build_report.json` (what was
read, what was dropped and why) in the interactions' folder. A failed build leaves no dataset;
a run again with the same flags finds the frames already extracted
(`<data_dir>/downloads/custom_frames_work/`). A name that is built already is rebuilt only with
`overwrite`, which extracts every clip again; built from the same flags, the build has nothing
to do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import uuid
from typing import Any

import tensorflow_datasets as tfds

from jaxlens import paths
from jaxlens.builders import custom_items
from jaxlens.builders import interaction_table
from jaxlens.builders.custom import CustomConfig, CustomFrames, CustomInteractions
from jaxlens.builders.frames import FrameOptions, VideoStatus
from jaxlens.builders.subset import pipeline_options
from jaxlens.data import tfds_source
from jaxlens.errors import JaxlensError

REPORT_FILE = 'build_report.json'
_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_-]{0,63}')


@dataclasses.dataclass(frozen=True)
class CustomBuild:
  """Everything a custom dataset is built from; its JSON form is in the build report."""

  name: str
  table: interaction_table.TableSpec
  content: custom_items.ContentSpec = custom_items.ContentSpec()
  frame_options: FrameOptions = FrameOptions()
  max_seq_len: int = 10
  min_seq_len: int = 5

  def to_json(self) -> dict[str, Any]:
    spec = dataclasses.asdict(self)
    spec['content']['category_cols'] = list(self.content.category_cols)
    spec['frame_options']['resize'] = self.frame_options.resize.value
    return spec

  def fingerprint(self) -> str:
    return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:12]


def _check_name(name: str) -> None:
  if not _NAME.fullmatch(name):
    raise JaxlensError(f'--name {name!r}: use letters, digits, _ and - (at most 64, starting '
                       'with a letter or digit)')


def _existing(spec: CustomBuild, data_dir: str | None, overwrite: bool) -> list[str]:
  """The built datasets of this name; an error when they would be overwritten unasked."""
  built = [d for d in tfds_source.dataset_names(f'{tfds_source.CUSTOM}/{spec.name}')
           if tfds_source.built_dir(d, data_dir)]
  if not built or overwrite:
    return built
  report = _read_report(spec.name, data_dir)
  if report is not None and report.get('spec') == spec.to_json():
    return built
  source = report['spec']['table']['path'] if report else 'other sources'
  raise JaxlensError(
      f'{", ".join(built)} is already built in {tfds_source.data_dir_path(data_dir)}, from '
      f'{source}; choose another --name, or pass --overwrite to replace it')


def _read_report(name: str, data_dir: str | None) -> dict | None:
  folder = tfds_source.built_dir(f'{tfds_source.CUSTOM}/{name}', data_dir)
  path = folder and paths.resolve(folder) / REPORT_FILE
  return paths.read_json(path) if path and path.exists() else None


def _media_report(kind: str, given: dict[int, str], unsupported: list[str],
                  unusable: dict[str, list[int]], num_items: int) -> dict[str, Any]:
  """What became of the videos (or covers): named files that could not be used, by reason."""
  named = {reason: sorted(given[i] for i in items if i in given)
           for reason, items in unusable.items()}
  named = {reason: files for reason, files in named.items() if files}
  without = num_items - len(given) + sum(len(files) for files in named.values())
  return {'given': len(given), 'without_' + kind: without,
          'fallback': 'black frames' if kind == 'video' else 'no cover (black frames)',
          'not_found': named.pop('missing', []), **named, 'unsupported': unsupported}


def _report(spec: CustomBuild, converted: interaction_table.Converted, columns,
            interactions: CustomInteractions, items: CustomFrames | None,
            content: custom_items.Content | None) -> dict[str, Any]:
  protocol = interactions.info.metadata['protocol']
  users = interactions.info.splits[tfds_source.RAW_SPLIT].num_examples
  report = {
      'dataset': f'{tfds_source.CUSTOM}/{spec.name}', 'spec': spec.to_json(),
      'interactions': {'rows': converted.rows, 'users': users,
                       'items': len(converted.source_item_ids) - 1,
                       'columns': dataclasses.asdict(columns),
                       'user_id_kind': converted.user_id_kind,
                       'item_id_kind': converted.item_id_kind,
                       'time': converted.time_unit or 'none: the rows\' order'},
      'protocol': {key: protocol[key] for key in
                   ('max_seq_len', 'min_seq_len', 'num_users', 'num_items', 'num_interactions')},
      'dropped': [
          {'what': 'users', 'count': users - protocol['num_users'],
           'why': f'fewer than min_seq_len={spec.min_seq_len} interactions (the protocol '
                  'split leaves them out; the train split keeps every user)'},
          {'what': 'interactions', 'count': converted.rows - protocol['num_interactions'],
           'why': f'of dropped users, or before a user\'s last max_seq_len + 3 = '
                  f'{spec.max_seq_len + 3} (the protocol split only)'},
      ],
  }
  if items is not None:
    metadata = items.info.metadata
    failed = [i for i in items.items_without_cover if i in content.covers]
    found = {i for i in failed if paths.resolve(content.covers[i]).exists()}
    unusable_covers = {'missing': [i for i in failed if i not in found],
                       'unreadable': [i for i in failed if i in found]}
    unusable_videos = {status.value: items.items_by_status.get(status.value, [])
                       for status in (VideoStatus.MISSING, VideoStatus.UNREADABLE)}
    report['items'] = {
        'count': len(metadata['item_ids']),
        'video_status_counts': metadata['video_status_counts'],
        'videos': _media_report('video', content.videos, content.unsupported['videos'],
                                unusable_videos, len(metadata['item_ids'])),
        'covers': _media_report('cover', content.covers, content.unsupported['covers'],
                                unusable_covers, len(metadata['item_ids'])),
        'titles': len(content.titles), 'categories': len(content.categories),
        'unknown_items': content.unknown,
    }
    for entry in report['items']['unknown_items'].values():
      report['dropped'].append({'what': 'content entries', 'count': entry['count'],
                                'why': 'they name items the interactions do not have',
                                'examples': entry['examples']})
    for kind in ('videos', 'covers'):
      media = report['items'][kind]
      for reason in ('not_found', 'unreadable', 'unsupported'):
        if media.get(reason):
          report['dropped'].append({'what': f'{kind} ({reason.replace("_", " ")})',
                                    'count': len(media[reason]),
                                    'why': f'their items get {media["fallback"]}'})
  return report


def _move(staging: str, data_dir: str | None, datasets: list[str], replaced: list[str]) -> None:
  """Puts the finished datasets in place; what they replace goes first."""
  root = paths.resolve(tfds_source.data_dir_path(data_dir))
  for dataset in replaced:
    paths.resolve(tfds_source.built_dir(dataset, data_dir)).rmtree()
  for dataset in datasets:
    built = paths.resolve(tfds_source.built_dir(dataset, staging))
    target = root / dataset / built.name
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)


def _print_summary(report: dict[str, Any], report_path: str) -> None:
  protocol, table = report['protocol'], report['interactions']
  print(f'{table["rows"]:,} interactions of {table["users"]:,} users and {table["items"]:,} '
        f'items; the protocol keeps {protocol["num_users"]:,} users, {protocol["num_items"]:,} '
        f'items, {protocol["num_interactions"]:,} interactions')
  items = report.get('items')
  if items:
    media = [f'{items[kind]["without_" + kind[:-1]]:,} without a usable {kind[:-1]}'
             for kind in ('videos', 'covers') if items[kind]['given']]
    print(f'{items["count"]:,} items: {items["titles"]:,} titles, {items["categories"]:,} with '
          'categories' + (f'; {" and ".join(media)} (black frames); video status '
                          f'{items["video_status_counts"]}' if media else
                          '; no videos or covers (black frames)'))
    for kind in ('videos', 'covers'):
      for reason in ('not_found', 'unreadable', 'unsupported'):
        files = items[kind].get(reason)
        if files:
          shown = ', '.join(files[:5]) + (f' and {len(files) - 5:,} more' if len(files) > 5 else '')
          print(f'warning: {len(files):,} {kind} {reason.replace("_", " ")}: {shown}')
    for source, entry in items['unknown_items'].items():
      if entry['count']:
        print(f'warning: {source}: {entry["count"]:,} entries name items the interactions do not '
              f'have (e.g. {", ".join(map(str, entry["examples"]))})')
  print(f'build report: {report_path}')


def build_custom(spec: CustomBuild, data_dir: str | None = None, *, engine: str | None = None,
                 beam_pipeline_options: str | None = None, num_workers: int | None = None,
                 overwrite: bool = False) -> None:
  """Builds `custom/<name>` (and `custom_frames/<name>` when content is given)."""
  _check_name(spec.name)
  table, columns = interaction_table.open_spec(spec.table)
  items_table = custom_items.check(spec.content, columns.item)
  replaced = _existing(spec, data_dir, overwrite)
  if replaced and not overwrite:
    print(f'custom/{spec.name} is already built from these flags in '
          f'{tfds_source.data_dir_path(data_dir)}: nothing to do')
    return
  root = paths.resolve(tfds_source.data_dir_path(data_dir))
  if overwrite:  # the files may have changed under the same names: extract every clip again
    for work in (root / 'downloads' / f'{CustomFrames.name}_work').glob(f'{spec.name}-*'):
      if re.fullmatch(rf'{re.escape(spec.name)}-[0-9a-f]{{12}}', work.name):
        work.rmtree()
  staging = os.fspath(root / tfds_source.CUSTOM / f'incomplete.{spec.name}.{uuid.uuid4().hex}')
  paths.resolve(staging).mkdir(parents=True)
  try:
    events = os.path.join(staging, 'interactions.csv')
    print(f'reading {spec.table.path}', flush=True)
    converted = interaction_table.convert(table, columns, spec.table, events)
    content = (custom_items.gather(spec.content, items_table, columns.item,
                                   converted.source_item_ids, converted.item_id_kind)
               if spec.content.given else None)
    config = CustomConfig(name=spec.name, description='a dataset built by jaxlens build custom',
                          max_seq_len=spec.max_seq_len, min_seq_len=spec.min_seq_len,
                          frame_options=spec.frame_options)
    download = tfds.download.DownloadConfig(
        beam_options=pipeline_options(beam_pipeline_options) if beam_pipeline_options else None)
    builders = [CustomInteractions(config=config, data_dir=staging, engine=engine,
                                   events_path=events, converted=converted)]
    if content is not None:
      builders.append(CustomFrames(
          config=config, data_dir=staging, num_workers=num_workers, content=content,
          num_items=len(converted.source_item_ids) - 1,
          category_columns=spec.content.category_cols, scratch_dir=staging,
          fingerprint=spec.fingerprint()))
    for builder in builders:
      print(f'building {builder.name}/{spec.name}', flush=True)
      builder.download_and_prepare(download_dir=os.fspath(root / 'downloads'),
                                   download_config=download)
    report = _report(spec, converted, columns, builders[0],
                     builders[1] if content is not None else None, content)
    built = tfds_source.built_dir(f'{tfds_source.CUSTOM}/{spec.name}', staging)
    paths.write_json(paths.resolve(built) / REPORT_FILE, report)
    if overwrite:  # the frames of an earlier build with content go too
      replaced = [d for d in tfds_source.dataset_names(f'{tfds_source.CUSTOM}/{spec.name}')
                  if tfds_source.built_dir(d, data_dir)]
    _move(staging, data_dir, [f'{b.name}/{spec.name}' for b in builders], replaced)
  finally:
    if paths.resolve(staging).exists():
      paths.resolve(staging).rmtree()
  final = tfds_source.built_dir(f'{tfds_source.CUSTOM}/{spec.name}', data_dir)
  _print_summary(report, os.path.join(final, REPORT_FILE))

