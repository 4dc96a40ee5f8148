"""Markdown tables laid out like the paper's, our number beside the paper's in each cell.

A compared cell reads `ours / paper (ours/paper)`; `–` stands for a number we do not have. A
missing run's slot says why in the row's note.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from jaxlens.report import naming, paper, studies
from jaxlens.report.runs import Run

BENCHMARK_METRICS = ('HR@10', 'NDCG@10', 'HR@20', 'NDCG@20')
DASH = '–'


def _number(value: float | None, percent: bool) -> str:
  if value is None:
    return DASH
  return f'{100 * value:.2f}' if percent else f'{value:.4f}'


def compare(ours: float | None, theirs: float | None, percent: bool = False) -> str:
  """`ours / paper (ratio)`; ours alone where the paper has no number."""
  if theirs is None:
    return _number(ours, percent)
  ratio = f' ({ours / theirs:.2f})' if ours is not None and theirs else ''
  return f'{_number(ours, percent)} / {_number(theirs, percent)}{ratio}'


def markdown(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(cell).replace('|', '\\|') for cell in row) + ' |'
            for row in rows]
  return '\n'.join(lines)


def status(run: Run) -> str:
  """Why a run has no numbers, or what to know about it: '' for a clean finished run."""
  parts = [] if run.finished else [f'missing ({run.state})']
  return '; '.join(parts + run.notes)


def benchmark(runs: list[Run]) -> str:
  """The paper's benchmark table; runs on a dataset of one's own (`custom/...`) stand alone,
  without the paper's MicroLens numbers beside them."""
  rows, unplaced = studies.benchmark(runs)
  on_microlens = any(naming.on_microlens(row.run.config) for row in rows if row.run)
  body, previous_class = [], None
  for row in rows:
    run = row.run
    if not on_microlens and run is None:
      continue
    theirs = paper.benchmark().get((row.model_class, row.model), {}) if on_microlens else {}
    body.append([
        row.model_class if row.model_class != previous_class else '', row.model,
        naming.setting(run.config) if run else '',
        naming.dataset_with_size(run.config, run.results) if run else '',
        *(compare(run.test(metric) if run else None, theirs.get(metric))
          for metric in BENCHMARK_METRICS),
        run.path if run else '', status(run) if run else ''])
    previous_class = row.model_class
  header = ['Class', 'Model', 'Setting', 'Data', *BENCHMARK_METRICS, 'Run', 'Note']
  return markdown(header, body) + _unplaced(unplaced)


def grid(table: studies.Grid, header_of: Callable[[Any], str], metrics: Sequence[str],
         paper_of: Callable[[str, Any], dict | None], percent: bool = False) -> str:
  """One row per grid row, one cell per (column, metric), missing slots named in the note."""
  header = ['', *(f'{metric} {header_of(column)}' for column in table.columns
                  for metric in metrics), 'Note']
  body = []
  for row in table.rows:
    cells, notes = [], []
    for column in table.columns:
      run = table.cells.get((row, column))
      theirs = paper_of(row, column) or {}
      cells += [compare(run.test(metric) if run else None, theirs.get(metric), percent)
                for metric in metrics]
      if run is not None and status(run):
        notes.append(f'{header_of(column)}: {status(run)}')
    body.append([row, *cells, '; '.join(notes)])
  return markdown(header, body) + _unplaced(table.unplaced)


def table6(runs: list[Run]) -> str:
  return grid(studies.table6(runs), str, ('HR@10', 'NDCG@10'),
              lambda encoder, policy: paper.table6().get((encoder, policy)), percent=True)


def table8(runs: list[Run]) -> str:
  return grid(studies.table8(runs), lambda warm: f'Warm-{warm}' if warm else 'Regular',
              ('HR@10', 'NDCG@10'), lambda model, warm: paper.table8().get((model, warm)))


def _no_paper(row: str, column: Any) -> None:
  del row, column  # Figure 5 is a plot in the paper: no published numbers


def fig5(runs: list[Run]) -> str:
  parts = []
  initialisation = studies.fig5_initialisation(runs)
  if initialisation.cells:
    parts.append(grid(initialisation, str, ('HR@10',), _no_paper))
  layers = studies.fig5_dnn_layers(runs)
  if layers.cells:
    parts.append(grid(layers, lambda n: f'{n} DNN layers', ('HR@10',), _no_paper))
  return '\n\n'.join(parts)


def fig6(runs: list[Run]) -> str:
  body = [[pair.video.path, pair.ids.path, naming.dataset(pair.video.config), group['group'],
           group['users'], _number(group['id'], False), _number(group['video'], False),
           f'{group["ratio"]:.2f}' if group['ratio'] is not None else DASH]
          for pair in studies.popularity_pairs(runs) for group in pair.groups]
  header = ['Video run', 'ID run', 'Data', 'Target popularity', 'Users', 'ID HR@10',
            'Video HR@10', 'Video/ID']
  return markdown(header, body) if body else ''


def _unplaced(unplaced: list[tuple[Run, str]]) -> str:
  if not unplaced:
    return ''
  return '\n\nNot placed in this table:\n' + '\n'.join(
      f'- {run.path}: {why}' + (f' ({status(run)})' if status(run) else '')
      for run, why in unplaced)


_STATES = {'pending': 'not started', 'unfinished': 'stopped before the end; its command resumes it',
           'failed': 'failed'}


def missing(runs: list[Run]) -> str:
  rows = [[run.path, run.state, '; '.join(run.notes) or _STATES.get(run.state, DASH)]
          for run in runs if not run.finished]
  return markdown(['Run', 'State', 'Why'], rows) if rows else ''
