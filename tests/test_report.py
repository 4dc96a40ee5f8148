"""The report: runs and sweeps written by hand in the results.json / config.json / sweep.json
schema, read back as tables beside the paper's numbers, missing runs shown, figures drawn."""

import json
import os

import matplotlib.image
import numpy as np
import pytest

from jaxlens.report import __main__ as report_cli
from jaxlens.report import naming, plots
from jaxlens.report import runs as runs_lib
from jaxlens.sweep import Cell, Sweep, spec
from jaxlens.sweep.state import SweepRecord


def _nested(flat: dict) -> dict:
  config = {}
  for dotted, value in flat.items():
    *parents, key = dotted.split('.')
    node = config
    for parent in parents:
      node = node.setdefault(parent, {})
    node[key] = value
  return config


def _popularity(hr_per_group):
  bounds = [(1, 3), (3, 10), (10, None)]
  return [{'group': f'[{low}, {high})' if high else f'[{low}, inf)', 'low': low, 'high': high,
           'users': 10, 'HR@10': hr} for (low, high), hr in zip(bounds, hr_per_group)]


def _run(folder, hr10, config=None, popularity=None, epochs=3):
  """A finished run: results.json in the contract's schema, config.json from dotted keys."""
  os.makedirs(folder, exist_ok=True)
  metrics = {'HR@10': hr10, 'NDCG@10': hr10 / 2, 'HR@20': hr10 * 1.4, 'NDCG@20': hr10 * 0.6}
  results = {'valid': metrics, 'test': metrics, 'best_epoch': epochs, 'epoch_seconds': 2.0,
             'history': [{'epoch': e, 'elapsed_seconds': 2.0 * e,
                          'valid': {'HR@10': hr10 * e / epochs}} for e in range(1, epochs + 1)],
             'data': {'users': 48, 'items': 30, 'interactions': 300}}
  if popularity:
    results['breakdowns'] = {'popularity': _popularity(popularity)}
  with open(os.path.join(folder, 'results.json'), 'w') as f:
    json.dump(results, f)
  if config is not None:
    with open(os.path.join(folder, 'config.json'), 'w') as f:
      json.dump(_nested(config), f)


def _video(encoder, policy, **more):
  return {'model.user_tower': 'sasrec', 'model.item_tower': 'video', 'model.encoder.name': encoder,
          'model.encoder.train_mode': policy, 'data.name': 'microlens/toy', **more}


def _sweep_record(root, sweep_file, cells):
  """sweep.json as `python -m jaxlens.sweep` writes it (every cell pending unless on disk)."""
  sweep = Sweep(config='configs/sasrec_v.py:toy', cells=cells)
  jobs = spec.expand(sweep, str(root))
  SweepRecord(sweep_file, spec.study_name(sweep_file), str(root), jobs).save()


def _cell(encoder, policy, **more):
  return Cell(f'{encoder}-{policy}', {'model.encoder.name': encoder,
                                      'model.encoder.train_mode': policy, **more})


@pytest.fixture(name='report')
def _report(tmp_path, capsys):
  """A benchmark pair with popularity breakdowns, a Table 6, a Table 8 and a Figure 5 sweep with
  missing cells, an unreadable results.json and a run without config.json; the report on them."""
  runs = tmp_path / 'runs'
  id_config = {'model.user_tower': 'sasrec', 'model.item_tower': 'id', 'data.name': 'microlens/toy'}
  _run(runs / 'sasrec_id', 0.0812, id_config, popularity=[0.0, 0.05, 0.2])
  _run(runs / 'sasrec_v', 0.0990, _video('tiny_c3d', 'scratch'), popularity=[0.1, 0.08, 0.2])
  _run(runs / 'old_run', 0.05)  # today's main: results.json only
  os.makedirs(runs / 'broken')
  (runs / 'broken' / 'results.json').write_text('{"test": ')

  table6 = runs / 'table6_toy'
  _sweep_record(table6, 'configs/sweeps/table6.py:toy',
                [_cell('tiny_c3d', 'frozen'), _cell('tiny_c3d', 'topT'), _cell('x3d_xs', 'FT')])
  _run(table6 / 'tiny_c3d-frozen', 0.0412, _video('tiny_c3d', 'frozen'))
  _run(table6 / 'tiny_c3d-topT', 0.0950, _video('tiny_c3d', 'topT'))

  table8 = runs / 'table8'
  _sweep_record(table8, 'configs/sweeps/table8.py', [
      Cell(f'sasrec_id-warm{n}', {'model.item_tower': 'id', 'data.min_item_interactions': n})
      for n in (0, 20)])
  _run(table8 / 'sasrec_id-warm0', 0.0900, {**id_config, 'data.min_item_interactions': 0})

  fig5 = runs / 'fig5'
  _sweep_record(fig5, 'configs/sweeps/fig5.py', [
      _cell('r3d_18', 'FT', **{'model.encoder.init_from': 'random'}),
      *(_cell('r3d_18', 'frozen', **{'model.encoder.mlp_layers': n}) for n in (0, 1))])
  _run(fig5 / 'r3d_18-FT', 0.0700, _video('r3d_18', 'FT', **{'model.encoder.init_from': 'random'}))
  out = tmp_path / 'report'
  assert report_cli.main([str(runs), '--out', str(out)]) == 0
  return out, capsys.readouterr().out


def _line(markdown: str, start: str) -> str:
  return next(line for line in markdown.splitlines() if line.startswith(start))


def test_benchmark_table_has_ours_beside_the_paper(report):
  out, _ = report
  text = (out / 'report.md').read_text()
  sasrec = _line(text, '|  | SASRec |')
  assert '0.0812 / 0.0909 (0.89)' in sasrec and 'microlens/toy (48 users, 30 items)' in sasrec
  assert '0.0990 / 0.0948 (1.04)' in _line(text, '|  | SASRec_V |')
  assert '| – / 0.0394 |' in _line(text, '| IDRec (CF) | DSSM |')  # a paper row we did not run
  assert 'MicroLens-100K' in text


def test_table6_percent_and_missing_cell(report):
  out, _ = report
  text = (out / 'report.md').read_text()
  r3d = _line(text, '| X3D-xs |')
  assert '– / 6.04' in r3d and 'FT: missing (pending)' in r3d
  tiny = _line(text, '| tiny_c3d |')
  assert tiny.startswith('| tiny_c3d | 4.12 | 2.06 | 9.50 | 4.75 |')


def test_table8_and_fig5(report):
  out, _ = report
  text = (out / 'report.md').read_text()
  assert '0.0900 / 0.0909 (0.99)' in _line(text, '| IDRec |')
  assert 'Warm-20: missing (pending)' in _line(text, '| IDRec |')
  assert 'R3D-r18' in text and '0 DNN layers: missing (pending)' in text


def test_missing_unreadable_and_unknown_runs_are_listed(report):
  out, printed = report
  text = (out / 'report.md').read_text()
  missing = text[text.index('## Missing'):text.index('## All runs')]
  assert 'x3d_xs-FT | pending' in missing
  assert 'broken | unreadable | results.json unreadable:' in missing
  assert 'old_run: model unknown (no config.json: model and data unknown)' in text
  lines = printed.splitlines()
  assert len(lines) == 12 and lines[-1] == f'wrote {out}/report.md'
  assert (f'{out.parent}/runs/sasrec_id: SASRec, microlens/toy (48 users, 30 items), best epoch '
          '3, test HR@10 0.0812 NDCG@10 0.0406, 0.1 min') in lines
  assert f'{out.parent}/runs/table6_toy/x3d_xs-FT: SASRec_V (X3D-xs FT), missing (pending)' in lines


def test_figures_are_drawn(report):
  out, _ = report
  names = sorted(name for name in os.listdir(out) if name.endswith('.png'))
  assert names == ['curves_benchmark.png', 'curves_fig5.png', 'curves_table6_toy.png',
                   'curves_table8.png', 'fig4_table6_toy.png', 'fig5_fig5.png', 'fig6.png']
  for name in names:
    image = matplotlib.image.imread(out / name)
    assert image.ndim == 3 and image.shape[0] > 100 and np.var(image) > 0, name
    assert f']({name})' in (out / 'report.md').read_text()


def test_row_names_follow_the_paper():
  def name(user, item, modality=None):
    config = _nested({'model.user_tower': user, 'model.item_tower': item,
                      **({'model.features.modality': modality} if modality else {})})
    return naming.model_row(config)
  assert name('sasrec', 'id') == (naming.IDREC_SR, 'SASRec')
  assert name('sasrec', 'video') == (naming.VIDEOREC, 'SASRec_V')
  assert name('sasrec', 'id+features', 'title') == (naming.VIDREC, 'SASRec_ID+T')
  assert name('youtube', 'id') == (naming.VIDREC, 'YouTube_ID')
  assert name('dssm', 'id+features') == (naming.VIDREC, 'DSSM_ID+V')
  assert name('lightgcn', 'id') == (naming.IDREC_CF, 'LightGCN')
  assert naming.encoder_label('r2plus1d_r50') == 'R3D-r50'


def test_bad_folder_is_one_error_line(tmp_path, capsys):
  assert report_cli.main([str(tmp_path / 'absent'), '--out', str(tmp_path / 'r')]) == 2
  assert capsys.readouterr().err == f'error: {tmp_path}/absent: no such folder\n'
  assert report_cli.main([str(tmp_path), '--out', str(tmp_path / 'r')]) == 2
  assert capsys.readouterr().err.startswith('error: no runs under')


def test_warm_runs_in_numeric_order_with_their_data_sizes(tmp_path, capsys):
  """warm50 before warm200, and each table names every data set it used with its size."""
  root = tmp_path / 'table8_50k'
  cells = [Cell(f'sasrec_id-warm{n}', {'model.item_tower': 'id', 'data.min_item_interactions': n})
           for n in (50, 200)]
  _sweep_record(root, 'configs/sweeps/table8.py:50k', cells)
  for n in (50, 200):
    _run(root / f'sasrec_id-warm{n}', 0.5, {'model.user_tower': 'sasrec', 'model.item_tower': 'id',
                                             'data.name': 'microlens/50k',
                                             'data.min_item_interactions': n})
  assert report_cli.main([str(root), '--out', str(tmp_path / 'report')]) == 0
  printed = capsys.readouterr().out
  assert printed.index('warm50:') < printed.index('warm200:')
  assert ('Our data: microlens/50k warm-50 (48 users, 30 items), microlens/50k warm-200 (48 users,'
          ' 30 items).') in (tmp_path / 'report' / 'report.md').read_text()


def test_far_apart_learning_curves_use_a_log_axis(tmp_path, monkeypatch):
  """Warm-200 near 1 beside warm-0 near 0.07: a linear axis would flatten warm-0."""
  figures = []
  monkeypatch.setattr(plots, '_save', lambda figure, path: figures.append(figure) or True)
  for name, hr10 in (('warm0', 0.07), ('warm200', 0.9), ('warm20', 0.1)):
    _run(tmp_path / name, hr10, {'model.user_tower': 'sasrec', 'model.item_tower': 'id'})
  runs = runs_lib.find([str(tmp_path)])
  assert plots.learning_curves(runs, '') and plots.learning_curves(runs[:2], '')
  assert [[axes.get_yscale() for axes in figure.axes[:2]] for figure in figures] == [
      ['log', 'log'], ['linear', 'linear']]


def test_runs_on_a_dataset_of_ones_own_stand_without_the_papers_numbers(tmp_path, capsys):
  for name, tower in (('sasrec', 'id'), ('sasrec_t', 'id+features')):
    _run(tmp_path / 'shop' / name, 0.8, {'model.user_tower': 'sasrec', 'model.item_tower': tower,
                                         'model.features.modality': 'title',
                                         'data.name': 'custom/shop'})
  assert report_cli.main([str(tmp_path / 'shop'), '--out', str(tmp_path / 'report')]) == 0
  table = (tmp_path / 'report' / 'report.md').read_text().split('## Benchmark')[1].split('##')[0]
  rows = [line for line in table.splitlines() if line.startswith('| ') and 'Class' not in line]
  assert [row.split(' | ')[1] for row in rows] == ['SASRec', 'SASRec_ID+T']
  assert all('custom/shop (48 users, 30 items) | 0.8000 | 0.4000 |' in row for row in rows)
