"""report.md and its figures: a section per table (benchmark, each study sweep), then Figure 6,
the runs that are missing, and every run's summary."""

from __future__ import annotations

import os

from jaxlens.report import naming, plots, studies, summary, tables
from jaxlens.report.runs import Run

_PREAMBLE = """\
The paper's numbers are on MicroLens-100K (arXiv 2309.15379, transcribed in
`jaxlens/report/paper_*.csv`); each table says which data our runs used, so compare with care. A
compared cell reads `ours / paper (ours/paper)`, with test metrics of the best validation epoch;
`–` is a number we do not have. A run a sweep expects that has not finished is shown as missing,
with its state."""

_TITLES = {studies.BENCHMARK: 'Benchmark', studies.TABLE6: 'Table 6: video encoders x freezing',
           studies.TABLE8: 'Table 8: regular and warm settings',
           studies.FIG5: 'Figure 5: initialisation and DNN layers over frozen encoders'}


def _datasets(runs: list[Run]) -> str:
  """Each data set once, with its size after the protocol from a finished run: warm-N settings
  differ by orders of magnitude (warm-200 on MicroLens-50K leaves a few dozen items)."""
  labels: dict[str, str] = {}
  for run in runs:
    if run.config and (run.finished or naming.dataset(run.config) not in labels):
      labels[naming.dataset(run.config)] = naming.dataset_with_size(run.config, run.results)
  return (', '.join(labels.values()) or 'unknown (no config.json)') + _clips(runs)


def _clips(runs: list[Run]) -> str:
  """The video runs' clip sizes, with the encoders of each when they differ (a toy sweep gives
  R3D-r18 smaller clips than the others)."""
  encoders: dict[str, list[str]] = {}
  for run in runs:
    shape = naming.clip(run.config) if run.config else ''
    if shape:
      label = naming.encoder_label(naming.get(run.config, 'model.encoder.name', '?'))
      names = encoders.setdefault(shape, [])
      if label not in names:
        names.append(label)
  if len(encoders) <= 1:
    return ''.join(f'; clips {shape}' for shape in encoders)
  return '; clips ' + ', '.join(f'{shape} ({", ".join(names)})'
                                for shape, names in encoders.items())


def _image(name: str, drawn: bool, caption: str) -> list[str]:
  return [f'![{caption}]({name})'] if drawn else []


def _section(group: studies.Group, out: str) -> list[str]:
  runs = group.runs
  title = _TITLES[group.study] + (f' ({group.root})' if group.root else '')
  lines = [f'## {title}', '', f'Our data: {_datasets(runs)}.', '']
  if group.study == studies.BENCHMARK:
    lines.append(tables.benchmark(runs))
  elif group.study == studies.TABLE6:
    lines += ['Test HR@10 and NDCG@10 in percent, as the paper prints them.', '',
              tables.table6(runs), '']
    name = f'fig4_{group.slug}.png'
    lines += _image(name, plots.encoder_bars(studies.table6(runs), os.path.join(out, name)),
                    'Figure 4 style: HR@10 per encoder and policy')
  elif group.study == studies.TABLE8:
    lines.append(tables.table8(runs))
  else:
    lines += ['The paper shows Figure 5 as plots only: our test HR@10 alone.', '',
              tables.fig5(runs), '']
    name = f'fig5_{group.slug}.png'
    drawn = plots.fig5(studies.fig5_initialisation(runs), studies.fig5_dnn_layers(runs),
                       os.path.join(out, name))
    lines += _image(name, drawn, 'Figure 5 style')
  name = f'curves_{group.slug}.png'
  lines += ['', *_image(name, plots.learning_curves(runs, os.path.join(out, name)),
                        'Learning curves')]
  return lines + ['']


def write(runs: list[Run], out: str) -> str:
  """Writes report.md and the PNGs into `out`; returns report.md's path."""
  os.makedirs(out, exist_ok=True)
  lines = ['# jaxlens report', '', _PREAMBLE, '']
  for group in studies.groups(runs):
    lines += _section(group, out)
  fig6 = tables.fig6(runs)
  if fig6:
    drawn = plots.popularity_ratios(studies.popularity_pairs(runs), os.path.join(out, 'fig6.png'))
    lines += ['## Figure 6: video over ID by target popularity', '',
              'HR@10 of a video run over the ID run of the same user tower on the same data, per '
              'popularity group of the test target.', '', fig6, '',
              *_image('fig6.png', drawn, 'Figure 6 style'), '']
  missing = tables.missing(runs)
  if missing:
    lines += ['## Missing, unfinished and unreadable runs', '', missing, '']
  lines += ['## All runs', '', summary.table(runs), '']
  path = os.path.join(out, 'report.md')
  with open(path, 'w') as f:
    f.write('\n'.join(lines))
  return path
