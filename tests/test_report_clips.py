"""A study's data line names the clip sizes of its video runs, with the encoders of each when
they differ, so a toy Table 6 that gives R3D-r18 smaller clips says so beside the table."""

from jaxlens.report import __main__ as report_cli
from tests.test_report import _cell, _run, _sweep_record, _video

DATA = 'Our data: microlens/toy (48 users, 30 items)'


def _table6_report(tmp_path, r3d_frame_size: int) -> str:
  root = tmp_path / f'table6_{r3d_frame_size}'
  _sweep_record(root, 'configs/sweeps/table6.py:toy', [
      _cell('tiny_c3d', 'FT'), _cell('r3d_18', 'FT', **{'data.frame_size': r3d_frame_size}),
      _cell('r3d_18', 'topT', **{'data.frame_size': r3d_frame_size})])
  _run(root / 'tiny_c3d-FT', 0.2, _video('tiny_c3d', 'FT', **{
      'data.num_frames': 4, 'data.frame_size': 32}))
  _run(root / 'r3d_18-FT', 0.1, _video('r3d_18', 'FT', **{
      'data.num_frames': 4, 'data.frame_size': r3d_frame_size}))
  out = tmp_path / f'report_{r3d_frame_size}'
  assert report_cli.main([str(root), '--out', str(out)]) == 0
  return (out / 'report.md').read_text()


def test_clip_sizes_beside_the_study(tmp_path, capsys):
  assert f'{DATA}; clips 4x16x16 (R3D-r18), 4x32x32 (tiny_c3d).' in _table6_report(tmp_path, 16)
  assert f'{DATA}; clips 4x32x32.' in _table6_report(tmp_path, 32)
  capsys.readouterr()


def test_id_runs_have_no_clips(tmp_path, capsys):
  _run(tmp_path / 'runs' / 'sasrec_id', 0.08, {'model.user_tower': 'sasrec',
                                               'model.item_tower': 'id',
                                               'data.name': 'microlens/toy',
                                               'data.num_frames': 5, 'data.frame_size': 224})
  assert report_cli.main([str(tmp_path / 'runs'), '--out', str(tmp_path / 'report')]) == 0
  assert f'{DATA}.\n' in (tmp_path / 'report' / 'report.md').read_text()
  capsys.readouterr()
