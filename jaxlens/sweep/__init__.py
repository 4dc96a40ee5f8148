r"""Sweeps: one study of the paper as a grid of `jaxlens.main` runs, one workdir per cell.

  jaxlens sweep table6:toy --root runs/table6_toy
  jaxlens sweep table6 --root runs/table6 --print_commands

A sweep file (`configs/sweeps/*.py`) defines `get_sweep(arg=None)` returning a `Sweep`:

  def get_sweep(arg=None):
    return Sweep(config='configs/sasrec_v.py:toy',
                 overrides={'model.encoder.init_from': 'random'},  # every cell's
                 cells=[Cell('tiny_c3d-topT', {'model.encoder.name': 'tiny_c3d',
                                               'model.encoder.train_mode': 'topT'}), ...])

Overrides are `--config.` keys without the prefix; a cell's own win over the sweep's, and a cell
may name its own config file (`Cell(..., config='configs/sasrec_id.py')`). The file's name is the
study the report lays its runs out as (table6, table8, fig5).
"""

from jaxlens.sweep.spec import Cell, Sweep

__all__ = ['Cell', 'Sweep']
