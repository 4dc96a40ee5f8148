r"""A run's test HR@10 / NDCG@10 per target-popularity group beside the most-popular baseline.

  python -m benchmarks.popularity_groups runs/table8_50k/sasrec_id-warm0 --out docs/report_50k

The paper's Figure 6 sets VideoRec against IDRec per popularity group; without frames (the 50K
pairs file) the only content-free yardstick is most-popular, so this sets a run against it. The
baseline is computed on the run's own data config (`config.json`) with the same masks, ties,
evaluators and `eval.popularity.bins` (`jaxlens.eval.popularity.most_popular`), and the group
sizes must agree with the run's `breakdowns.popularity`, or the data differ and nothing is shown.
Prints one markdown table per run; `--out` also writes them to `popularity_groups.md` with a PNG.
"""

import argparse
import json
import os
import sys
from typing import NamedTuple

import matplotlib
import ml_collections

matplotlib.use('Agg')
from matplotlib import pyplot as plt  # pylint: disable=wrong-import-position

from jaxlens.data import interactions  # pylint: disable=wrong-import-position
from jaxlens.eval.popularity import most_popular  # pylint: disable=wrong-import-position
from jaxlens.report import naming  # pylint: disable=wrong-import-position

METRICS = ('HR@10', 'NDCG@10')


class Comparison(NamedTuple):
  model: str  # the paper's row name, e.g. SASRec
  source: str  # the run folder and its data
  rows: list[dict]  # per group, then 'all': users, `run <metric>` and `mp <metric>`


def compare(run_dir: str) -> Comparison:
  """A run's popularity groups and overall test metrics beside most-popular's on its data."""
  with open(os.path.join(run_dir, 'config.json')) as f:
    config = json.load(f)
  with open(os.path.join(run_dir, 'results.json')) as f:
    results = json.load(f)
  eval_config = ml_collections.ConfigDict(config['eval'])
  data = interactions.load(ml_collections.ConfigDict(config['data']))
  baseline = most_popular(data, 'test', eval_config, ('popularity',))
  ours = results['breakdowns']['popularity']
  sizes = [group['users'] for group in ours], [group['users'] for group in baseline['popularity']]
  if sizes[0] != sizes[1]:
    raise ValueError(f'{run_dir}: group sizes {sizes[0]} differ from {sizes[1]} on its data')
  rows = [{'group': group['group'], 'users': group['users'],
           **{f'run {m}': group[m] for m in METRICS}, **{f'mp {m}': base[m] for m in METRICS}}
          for group, base in zip(ours, baseline['popularity'])]
  rows.append({'group': 'all', 'users': data.num_users,
               **{f'run {m}': results['test'][m] for m in METRICS},
               **{f'mp {m}': baseline[m] for m in METRICS}})
  return Comparison((naming.model_row(config) or ('', '?'))[1],
                    f'{run_dir}, {naming.dataset(config)}', rows)


def markdown(comparison: Comparison) -> str:
  """The comparison as a table; an empty group's metrics and a ratio over 0 read `–`."""
  def cell(row, key):
    return f'{row[key]:.4f}' if row['users'] else '–'

  def ratio(row):
    return f"{row['run HR@10'] / row['mp HR@10']:.1f}" if row['mp HR@10'] else '–'

  model = comparison.model
  lines = [f'**{model} against most-popular** ({comparison.source})', '',
           f"| test target's training interactions | users | {model} HR@10 | most-popular HR@10 | "
           f'{model} NDCG@10 | most-popular NDCG@10 | HR@10 {model}/most-popular |',
           '|' + '---|' * 7]
  lines += [f"| {row['group']} | {row['users']:,} | {cell(row, 'run HR@10')} | "
            f"{cell(row, 'mp HR@10')} | {cell(row, 'run NDCG@10')} | {cell(row, 'mp NDCG@10')} | "
            f'{ratio(row)} |' for row in comparison.rows]
  return '\n'.join(lines)


def plot(comparisons: list[Comparison], path: str) -> None:
  """HR@10 per non-empty group, the run's bar beside most-popular's, one panel per run (two
  panels a row)."""
  columns, rows = min(2, len(comparisons)), (len(comparisons) + 1) // 2
  figure, axes = plt.subplots(rows, columns, figsize=(7 * columns, 4.5 * rows), squeeze=False)
  for panel in axes.flat[len(comparisons):]:
    panel.set_axis_off()
  for panel, comparison in zip(axes.flat, comparisons):
    rows = [row for row in comparison.rows if row['users']]
    positions = range(len(rows))
    panel.bar([x - 0.2 for x in positions], [row['run HR@10'] for row in rows], 0.4,
              label=comparison.model)
    panel.bar([x + 0.2 for x in positions], [row['mp HR@10'] for row in rows], 0.4,
              label='most-popular')
    panel.set_xticks(list(positions), [f"{row['group']}\n{row['users']:,}" for row in rows],
                     fontsize='x-small')
    panel.set(xlabel="test target's training interactions (users in the group)",
              ylabel='test HR@10')
    panel.set_title(f'{comparison.model} against most-popular\n({comparison.source})',
                    fontsize='small')
    panel.set_ylim(top=1.25 * max(max(row['run HR@10'], row['mp HR@10']) for row in rows))
    panel.legend(fontsize='small', loc='upper left')  # the headroom above keeps bars clear
  figure.tight_layout()
  figure.savefig(path, dpi=80)
  plt.close(figure)


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('runs', nargs='+', help='finished run folders (config.json, results.json)')
  parser.add_argument('--out', default='', help='writes popularity_groups.md and .png here')
  args = parser.parse_args(argv)
  try:
    comparisons = [compare(run) for run in args.runs]
  except (OSError, KeyError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  text = '\n\n'.join(markdown(comparison) for comparison in comparisons)
  print(text)
  if args.out:
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'popularity_groups.md'), 'w') as f:
      f.write(text + '\n')
    plot(comparisons, os.path.join(args.out, 'popularity_groups.png'))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
