"""`microlens`: each user's chronological item ids, as the official pairs file gives them.

Records keep the file's user order (`disable_shuffling`) and the original ids; timestamps are
epoch milliseconds when the source is a `pairs.csv`, else positions (metadata `timestamps`).
Parsing is `jaxlens.data.pairs`, the same parser training uses on a raw pairs file.
"""

import numpy as np
import tensorflow_datasets as tfds

from jaxlens.data.build import configs as microlens_config
from jaxlens.data import pairs


class Builder(tfds.core.GeneratorBasedBuilder):
  """Interactions of MicroLens `toy`, `50k`, `100k` or `1m`."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  BUILDER_CONFIGS = microlens_config.INTERACTION_CONFIGS
  MANUAL_DOWNLOAD_INSTRUCTIONS = microlens_config.MANUAL_INSTRUCTIONS

  def __init__(self, *, file_format: str | None = None, **kwargs):
    super().__init__(file_format=file_format or microlens_config.DEFAULT_FILE_FORMAT, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'user_id': tfds.features.Text(),
            'item_ids': tfds.features.Tensor(shape=(None,), dtype=np.int64),
            'timestamps': tfds.features.Tensor(shape=(None,), dtype=np.int64),
        }),
        metadata=tfds.core.MetadataDict(),
        disable_shuffling=True,
        homepage='https://github.com/westlake-repl/MicroLens',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    files, _ = microlens_config.subset_sources(self.builder_config, dl_manager)
    histories = pairs.read_pairs(files.pairs)
    has_timestamps = histories[0].timestamps is not None
    self.info.metadata['timestamps'] = 'epoch_ms' if has_timestamps else 'positions'
    return {'train': self._generate_examples(histories)}

  def _generate_examples(self, histories: list[pairs.UserHistory]):
    for index, history in enumerate(histories):
      stamps = (history.timestamps if history.timestamps is not None
                else np.arange(len(history.items), dtype=np.int64))
      yield index, {'user_id': history.user, 'item_ids': history.items, 'timestamps': stamps}
