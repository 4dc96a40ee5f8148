r"""jaxlens' ID models against RecBole 1.2.1's on the same prepared MicroLens-50K data.

  python -m benchmarks.recbole_50k --recbole_python .venv-recbole/bin/python \
      [--models sasrec,gru4rec,nextitnet,lightgcn,nfm,deepfm] [--epochs 12] \
      [--recbole_epochs 12] [--workdir runs/recbole_50k]

Every ID model that RecBole also has: each side trains its own recipe at D=64 (jaxlens'
`configs/<model>.py:cpu`; RecBole's settings in `benchmarks.recbole_runs.PAIRS`) on the same
protocol sequences, split and full ranking (see `benchmarks.recbole_runs`), each with early
stopping (patience 10) under its epoch cap. A model whose runs already finished under the
workdir is read back, so the table can be built in sittings.

Prints, per model, both runs' valid and test HR@10 / NDCG@10, seconds per epoch (training and
validation), and the wall-clock second at which each first reached RecBole's best valid NDCG@10
(jaxlens' clock starts before its data loading and compilation, RecBole's at its first epoch);
the targets are jaxlens' test NDCG@10 >= RecBole's and that second >= 5x sooner.
"""

import argparse
import os

from benchmarks import recbole_runs


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default=os.environ.get('MICROLENS_DATA_DIR', ''))
  parser.add_argument('--recbole_python', default='.venv-recbole/bin/python')
  parser.add_argument('--models', default=','.join(recbole_runs.PAIRS))
  parser.add_argument('--epochs', type=int, default=12, help="jaxlens' epoch cap")
  parser.add_argument('--recbole_epochs', type=int, default=12, help="RecBole's epoch cap")
  parser.add_argument('--workdir', default='runs/recbole_50k')
  args = parser.parse_args()
  models = args.models.split(',')
  unknown = sorted(set(models) - set(recbole_runs.PAIRS))
  if unknown:
    parser.exit(2, f'error: --models: unknown {", ".join(unknown)}; known: '
                   f'{", ".join(recbole_runs.PAIRS)}\n')
  if not os.path.exists(args.recbole_python):
    parser.exit(2, f'error: --recbole_python {args.recbole_python} not found '
                   '(requirements-recbole.txt says how to make the RecBole venv)\n')
  from absl import logging  # pylint: disable=g-import-not-at-top
  from benchmarks import microlens_50k  # pylint: disable=g-import-not-at-top
  from benchmarks.videorec_common import results_of  # pylint: disable=g-import-not-at-top
  from jaxlens.data import interactions  # pylint: disable=g-import-not-at-top
  pairs = microlens_50k.pairs_path(args.data_dir)
  logging.set_verbosity(logging.WARNING)
  rows = []
  for name in models:
    config = microlens_50k.config(recbole_runs.PAIRS[name].config, pairs)
    config.train.epochs = min(config.train.epochs, args.epochs)
    workdir = os.path.join(args.workdir, name)
    recbole = recbole_runs.run_in_venv(name, interactions.load(config.data), args.recbole_python,
                                       args.recbole_epochs, workdir)
    load, ran = os.getloadavg()[0], not os.path.exists(os.path.join(workdir, 'jaxlens',
                                                                    'results.json'))
    ours = results_of(config, os.path.join(workdir, 'jaxlens'))
    if ran:
      print(f'jaxlens {name} ran with load average {load:.2f} at its start, '
            f'{os.getloadavg()[0]:.2f} at its end, on {os.cpu_count()} cores', flush=True)
    rows.append(recbole_runs.rows_of(name, recbole, ours))
  print()
  recbole_runs.print_table(rows)


if __name__ == '__main__':
  main()
