"""Which table or figure each run belongs to, and where in it: the layout both tables and plots
draw from.

Runs of the sweeps `table6`, `table8` and `fig5` are laid out as those studies, one group per
sweep root; every other run goes to the benchmark table. A run that fits no slot (unknown model,
a second run for one slot) is kept as unplaced and listed under its table.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
from typing import Any, Callable, Hashable

from jaxlens.report import naming, paper
from jaxlens.report.runs import Run

BENCHMARK, TABLE6, TABLE8, FIG5 = 'benchmark', 'table6', 'table8', 'fig5'
POLICIES = ('frozen', 'topT', 'FT')
WARM = (0, 20, 50, 200)


@dataclasses.dataclass
class Group:
  """The runs of one table: the benchmark's, or one study sweep's."""
  study: str
  root: str  # the sweep's root; '' for the benchmark
  runs: list[Run]
  slug: str = ''  # names the group's figures: the root's folder name, unique among groups


def groups(runs: list[Run]) -> list[Group]:
  """The benchmark group first (if it has runs), then each study sweep in study order."""
  by_key: dict[tuple[str, str], list[Run]] = collections.defaultdict(list)
  for run in runs:
    study = run.sweep.study if run.sweep else ''
    if study in (TABLE6, TABLE8, FIG5):
      by_key[(study, run.sweep.root)].append(run)
    else:
      by_key[(BENCHMARK, '')].append(run)
  order = (BENCHMARK, TABLE6, TABLE8, FIG5)
  result, slugs = [], set()
  for (study, root), members in sorted(by_key.items(),
                                       key=lambda item: (order.index(item[0][0]), item[0][1])):
    slug = re.sub(r'[^A-Za-z0-9_.-]+', '_', os.path.basename(os.path.normpath(root))) if root \
        else study
    slug = next(f'{slug}_{n}' if n else slug for n in range(len(slugs) + 1)
                if (f'{slug}_{n}' if n else slug) not in slugs)
    slugs.add(slug)
    result.append(Group(study, root, members, slug))
  return result


@dataclasses.dataclass
class Grid:
  """Runs by (row, column): Table 6's encoders x policies, Table 8's models x warm-N, ..."""
  rows: list[str]
  columns: list[Any]
  cells: dict[tuple[str, Any], Run]
  unplaced: list[tuple[Run, str]]  # (run, why it has no slot)

  def has_data(self) -> bool:
    return any(run.finished for run in self.cells.values())


def _grid(runs: list[Run], column_of: Callable[[Run], Hashable], rows: list[str],
          columns: list[Hashable], id_row: str = '') -> Grid:
  """Places video-tower runs in their encoder's row (ID-tower runs in `id_row`, if given) and
  the column `column_of(run)`; rows and columns not given beforehand are appended."""
  grid = Grid(list(rows), list(columns), {}, [])
  for run in runs:
    tower = naming.get(run.config, 'model.item_tower')
    if tower == 'video':
      row = naming.encoder_label(naming.get(run.config, 'model.encoder.name', '?'))
    elif tower == 'id' and id_row:
      row = id_row
    else:
      grid.unplaced.append((run, f'a {tower} item tower' if tower else 'config unknown'))
      continue
    where = row, column_of(run)
    if where in grid.cells:
      grid.unplaced.append((run, f'same slot as {grid.cells[where].path}'))
      continue
    grid.cells[where] = run
    if row not in grid.rows:
      grid.rows.append(row)
    if where[1] not in grid.columns:
      grid.columns.append(where[1])
  return grid


def _policy(run: Run) -> str:
  return naming.get(run.config, 'model.encoder.train_mode', '?')


def _warm(run: Run) -> int:
  return naming.get(run.config, 'data.min_item_interactions') or 0


def _initialisation(run: Run) -> str:
  return 'OT' if naming.get(run.config, 'model.encoder.init_from') == 'random' else 'WT'


def _dnn_layers(run: Run) -> int:
  return naming.get(run.config, 'model.encoder.mlp_layers') or 0


def table6(runs: list[Run]) -> Grid:
  """Encoders (the paper's order, then ours) x freezing policies."""
  encoders = list(dict.fromkeys(encoder for encoder, _ in paper.table6()))
  return _grid(runs, _policy, encoders, list(POLICIES))


def table8(runs: list[Run]) -> Grid:
  """IDRec and encoders (the paper's order, then ours) x warm-N."""
  models = list(dict.fromkeys(model for model, _ in paper.table8()))
  grid = _grid(runs, _warm, models, list(WARM), id_row='IDRec')
  grid.columns.sort()
  return grid


def fig5_initialisation(runs: list[Run]) -> Grid:
  """Trained encoders x WT (from pretrained weights) / OT (init_from='random')."""
  return _grid([run for run in runs if _policy(run) != 'frozen'], _initialisation, [],
               ['WT', 'OT'])


def fig5_dnn_layers(runs: list[Run]) -> Grid:
  """Frozen encoders x DNN layers over them (`model.encoder.mlp_layers`)."""
  grid = _grid([run for run in runs if _policy(run) == 'frozen'], _dnn_layers, [], [])
  grid.columns.sort()
  return grid


@dataclasses.dataclass
class BenchmarkRow:
  model_class: str
  model: str
  run: Run | None  # None: a paper row we have no run for


def benchmark(runs: list[Run]) -> tuple[list[BenchmarkRow], list[tuple[Run, str]]]:
  """Paper rows by class, each with our runs of that model (or none), then our other models."""
  by_row: dict[tuple[str, str], list[Run]] = collections.defaultdict(list)
  unplaced = []
  for run in runs:
    row = naming.model_row(run.config)
    if row is None:
      unplaced.append((run, 'model unknown' if not run.config else 'model not in the paper'))
    else:
      by_row[row].append(run)
  rows = []
  for model_class in naming.CLASSES:
    names = [name for cls, name in paper.benchmark() if cls == model_class]
    names += sorted({name for cls, name in by_row if cls == model_class} - set(names))
    for name in names:
      runs_of_row = by_row[(model_class, name)] or [None]
      rows += [BenchmarkRow(model_class, name, run) for run in runs_of_row]
  return rows, unplaced


@dataclasses.dataclass
class PopularityPair:
  """A video run and an ID run on the same data, for Figure 6's ratio per popularity group."""
  video: Run
  ids: Run
  groups: list[dict[str, Any]]  # {'group', 'users', 'id', 'video', 'ratio'}


def popularity_pairs(runs: list[Run]) -> list[PopularityPair]:
  """Each finished video run with `breakdowns.popularity` against the ID run of the same user
  tower on the same data (benchmark and Table 8 runs; Table 6 and Figure 5 vary the encoder)."""
  def popularity(run):
    return (run.results or {}).get('breakdowns', {}).get('popularity') or []

  def key(run):
    return naming.user_tower(run.config), naming.dataset(run.config)

  candidates = [run for run in runs if popularity(run) and
                (run.sweep is None or run.sweep.study not in (TABLE6, FIG5))]
  id_runs = {}
  for run in candidates:
    if naming.get(run.config, 'model.item_tower') == 'id':
      id_runs.setdefault(key(run), run)
  pairs = []
  for run in candidates:
    ids = id_runs.get(key(run))
    if naming.get(run.config, 'model.item_tower') != 'video' or ids is None:
      continue
    id_groups = {(group.get('low'), group.get('high')): group for group in popularity(ids)}
    rows = []
    for group in popularity(run):
      id_group = id_groups.get((group.get('low'), group.get('high')))
      if id_group is None:
        continue
      id_hr, video_hr = id_group.get('HR@10'), group.get('HR@10')
      rows.append({'group': group.get('group', '?'), 'users': group.get('users'),
                   'id': id_hr, 'video': video_hr,
                   'ratio': video_hr / id_hr if id_hr and video_hr is not None else None})
    pairs.append(PopularityPair(run, ids, rows))
  return pairs
