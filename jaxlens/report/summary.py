"""One summary per run: a line on the terminal and a row of the report's run list."""

from __future__ import annotations

from jaxlens.report import naming, tables
from jaxlens.report.runs import Run

HEADER = ('Run', 'Model', 'Setting', 'Data', 'Best epoch', 'Test HR@10', 'Test NDCG@10', 'Time')


def fields(run: Run) -> dict[str, str]:
  row = naming.model_row(run.config)
  results = run.results or {}
  seconds = ((results.get('history') or [{}])[-1]).get('elapsed_seconds')
  return {'Run': run.path, 'Model': row[1] if row else '?',
          'Setting': naming.setting(run.config) or tables.DASH,
          'Data': naming.dataset_with_size(run.config, run.results),
          'Best epoch': str(results.get('best_epoch', tables.DASH)),
          'Test HR@10': tables.compare(run.test('HR@10'), None),
          'Test NDCG@10': tables.compare(run.test('NDCG@10'), None),
          'Time': f'{seconds / 60:.1f} min' if isinstance(seconds, (int, float)) else tables.DASH}


def line(run: Run) -> str:
  """`path: model (setting), data, best epoch, test HR@10 / NDCG@10, time`, or why not."""
  values = fields(run)
  model = values['Model'] + (f' ({values["Setting"]})' if values['Setting'] != tables.DASH else '')
  if not run.finished:
    return f'{run.path}: {model}, {tables.status(run)}'
  notes = f' ({"; ".join(run.notes)})' if run.notes else ''
  return (f'{run.path}: {model}, {values["Data"]}, best epoch {values["Best epoch"]}, test HR@10 '
          f'{values["Test HR@10"]} NDCG@10 {values["Test NDCG@10"]}, {values["Time"]}{notes}')


def table(runs: list[Run]) -> str:
  return tables.markdown(HEADER, [[fields(run)[column] for column in HEADER] for run in runs])
