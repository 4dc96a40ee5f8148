"""`jaxlens build custom` from tables, items and covers in a Cloud Storage bucket (the local
emulator of tests/test_cloud_storage.py): the dataset a local copy gives."""

import cv2
import numpy as np
from etils import epath
import pytest

from jaxlens.data import tfds_source
from tests import custom_tables
from tests.test_cloud_storage import bucket  # pylint: disable=unused-import


@pytest.mark.slow
def test_tables_and_covers_in_a_bucket_build_the_local_dataset(bucket, tmp_path, capsys):
  rows = custom_tables.edge_case_rows()
  local = tmp_path / 'local'
  custom_tables.write(local, rows, 'csv.gz')
  cover = cv2.imencode('.png', np.full((8, 8, 3), 200, np.uint8))[1].tobytes()
  (local / 'items.csv').write_text('item,cover\n10,covers/10.png\n')
  (local / 'covers').mkdir()
  (local / 'covers' / '10.png').write_bytes(cover)
  remote = f'{bucket}/shop'
  for name in ('interactions.csv.gz', 'items.csv', 'covers/10.png'):
    epath.Path(f'{remote}/{name}').write_bytes((local / name).read_bytes())
  built = {}
  for where, folder in (('local', str(local)), ('bucket', remote)):
    status, out, err = custom_tables.build(
        capsys, '--name=edge', f'--interactions={folder}/interactions.csv.gz',
        f'--items={folder}/items.csv', '--cover_col=cover', '--frame_size=8',
        f'--data_dir={tmp_path / where}')
    assert status == 0, err
    built[where] = custom_tables.dataset_files(tmp_path / where, 'edge')
    covers = tfds_source.ItemCovers('custom/edge', str(tmp_path / where))
    ten = tfds_source.source_item_ids('custom/edge', str(tmp_path / where), covers.item_ids
                                      ).index(10)
    assert covers[ten].mean() == 200 and not covers[ten + 1].any(), out
  assert built['bucket'] == built['local']
