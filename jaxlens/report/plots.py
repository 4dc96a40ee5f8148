"""PNG figures in the paper's styles: learning curves, Figure 4 bars, Figure 5, Figure 6.

Each function draws one figure from the layouts of `studies` and returns False (writing
nothing) when it has nothing to draw. Our numbers are test HR@10; the paper's are markers.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

import matplotlib

matplotlib.use('Agg')  # files only, never a display
from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
from matplotlib import ticker  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxlens.report import paper, studies  # pylint: disable=wrong-import-position
from jaxlens.report.runs import Run  # pylint: disable=wrong-import-position

METRIC = 'HR@10'
LOG_SCALE_SPREAD = 5  # learning curves whose best values differ more than this use a log axis


def _label(run: Run) -> str:
  return run.cell or os.path.basename(os.path.normpath(run.path))


def _save(figure, path: str) -> bool:
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)
  return True


def learning_curves(runs: list[Run], path: str) -> bool:
  """Validation HR@10 against epoch and against wall-clock seconds, one line per run; on a log
  axis when the runs' best values are far apart."""
  curves = [(run, [point for point in (run.results or {}).get('history') or []
                   if METRIC in point.get('valid', {})]) for run in runs]
  curves = [(run, history) for run, history in curves if history]
  if not curves:
    return False
  figure, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(12, 4.5))
  bests = [max(point['valid'][METRIC] for point in history) for _, history in curves]
  if min(bests) > 0 and max(bests) / min(bests) > LOG_SCALE_SPREAD:
    for axes in (by_epoch, by_time):  # warm-200 near 1 would flatten warm-0 near 0.1
      axes.set_yscale('log')
  for run, history in curves:
    values = [point['valid'][METRIC] for point in history]
    by_epoch.plot([point['epoch'] for point in history], values, marker='.', label=_label(run))
    by_time.plot([point.get('elapsed_seconds', math.nan) for point in history], values,
                 marker='.', label=_label(run))
  by_epoch.set(xlabel='epoch', ylabel=f'valid {METRIC}', title='Learning curves by epoch')
  by_epoch.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  by_time.set(xlabel='seconds since the start of training', ylabel=f'valid {METRIC}',
              title='... and by wall-clock time')
  by_time.legend(fontsize='x-small', loc='center left', bbox_to_anchor=(1.02, 0.5))
  return _save(figure, path)


def _rows_with_data(grid: studies.Grid) -> list[str]:
  return [row for row in grid.rows if any(
      (row, column) in grid.cells and grid.cells[(row, column)].finished
      for column in grid.columns)]


def _grouped_bars(axes, grid: studies.Grid,
                  paper_of: Callable[[str, Any], float | None]) -> None:
  """Bars of our HR@10 per row and column of `grid`; the paper's as black ticks."""
  rows = _rows_with_data(grid)
  width = 0.8 / len(grid.columns)
  for index, column in enumerate(grid.columns):
    positions = [x + (index - (len(grid.columns) - 1) / 2) * width for x in range(len(rows))]
    ours = [_test(grid.cells.get((row, column))) for row in rows]
    axes.bar(positions, ours, width, label=str(column))
    theirs = [paper_of(row, column) for row in rows]
    theirs = [math.nan if value is None else value for value in theirs]
    if not all(math.isnan(value) for value in theirs):
      axes.scatter(positions, theirs, marker='_', s=300, color='black', zorder=3,
                   label='paper' if index == 0 else None)
  axes.set_xticks(range(len(rows)), rows, rotation=30, ha='right')
  axes.set_xlim(-0.5, len(rows) - 0.5)  # keeps slots without a bar (a missing run) in view
  axes.set_ylabel(f'test {METRIC}')
  axes.legend(fontsize='small')


def _test(run: Run | None) -> float:
  value = run.test(METRIC) if run else None
  return math.nan if value is None else value


def encoder_bars(grid: studies.Grid, path: str) -> bool:
  """Figure 4: HR@10 per encoder and freezing policy."""
  if not grid.has_data():
    return False
  figure, axes = plt.subplots(figsize=(max(6, 0.9 * len(_rows_with_data(grid))), 4.5))
  _grouped_bars(axes, grid, lambda encoder, policy: paper.table6().get(
      (encoder, policy), {}).get(METRIC))
  axes.set_title('Figure 4 style: encoders x freezing policy (ticks: the paper)')
  return _save(figure, path)


def fig5(initialisation: studies.Grid, layers: studies.Grid, path: str) -> bool:
  """Figure 5: WT vs OT bars, and HR@10 against DNN layers over frozen encoders."""
  panels = [grid for grid in (initialisation, layers) if grid.has_data()]
  if not panels:
    return False
  figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
  axes = list(axes[0])
  if initialisation.has_data():
    panel = axes.pop(0)
    _grouped_bars(panel, initialisation, lambda row, column: None)
    panel.set_title('Figure 5a style: pretrained (WT) vs random (OT)')
  if layers.has_data():
    panel = axes.pop(0)
    for row in layers.rows:
      points = [(column, _test(layers.cells.get((row, column)))) for column in layers.columns]
      panel.plot(*zip(*points), marker='o', label=row)
    panel.set(xlabel='DNN layers over the frozen encoder', ylabel=f'test {METRIC}',
              title='Figure 5b-d style: DNN layers over frozen encoders')
    panel.set_xticks(layers.columns)
    panel.legend(fontsize='small')
  return _save(figure, path)


def popularity_ratios(pairs: list[studies.PopularityPair], path: str) -> bool:
  """Figure 6: VideoRec / IDRec HR@10 per target-popularity group."""
  pairs = [pair for pair in pairs if pair.groups]
  if not pairs:
    return False
  groups = list(dict.fromkeys(group['group'] for pair in pairs for group in pair.groups))
  width = 0.8 / len(pairs)
  figure, axes = plt.subplots(figsize=(max(6, 0.8 * len(groups)), 4.5))
  for index, pair in enumerate(pairs):
    ratios = {group['group']: group['ratio'] for group in pair.groups}
    heights = [math.nan if ratios.get(group) is None else ratios[group] for group in groups]
    axes.bar([x + (index - (len(pairs) - 1) / 2) * width for x in range(len(groups))], heights,
             width, label=f'{_label(pair.video)} / {_label(pair.ids)}')
  axes.axhline(1.0, color='black', linewidth=0.8)
  axes.set_xticks(range(len(groups)), groups, rotation=30, ha='right')
  axes.set(xlabel="test target's training interactions (less -> more popular)",
           ylabel=f'{METRIC} ratio, video / ID', title='Figure 6 style: cold to popular items')
  axes.legend(fontsize='small')
  return _save(figure, path)
