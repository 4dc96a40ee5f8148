"""The MicroLens subsets as published: their names and file names.

Reading a built dataset needs the subset names (and, for its error messages, how to build one);
the builders need the file names. Both take them from here.
"""

from __future__ import annotations

import dataclasses

TOY_PREFIX = 'MicroLens-toy'  # the synthetic subset's file names (jaxlens.builders.toy)


@dataclasses.dataclass(frozen=True)
class Release:
  """The file names of one MicroLens subset, as published."""

  name: str  # builder config name: 'toy', '50k', ...
  prefix: str  # 'MicroLens-100k'
  titles: str  # the 100K and 50K releases name their titles file differently
  base_url: str | None  # None: the files must be given in a manual_dir
  pairs_files: tuple[str, ...] = ()  # first present wins; default `<prefix>_pairs.tsv`, `.csv`
  has_item_files: bool = True  # likes and views, categories
  has_frames: bool = True  # jaxlens builds a `microlens_frames` dataset of its videos

  @property
  def pairs_candidates(self) -> tuple[str, ...]:
    return self.pairs_files or (f'{self.prefix}_pairs.tsv', f'{self.prefix}_pairs.csv')

  @property
  def likes(self) -> str:
    return f'{self.prefix}_likes_and_views.txt'

  @property
  def categories(self) -> str:
    return 'tags_to_summary.csv'

  @property
  def covers_dir(self) -> str:
    return f'{self.prefix}_covers'

  @property
  def videos_dir(self) -> str:
    return f'{self.prefix}_videos'

  def layout(self) -> str:
    """The manual_dir layout, for error messages and docs."""
    if not self.has_frames:
      return ' or '.join(self.pairs_candidates)
    optional = [self.titles] + ([self.likes, self.categories] if self.has_item_files else [])
    return (f'{" or ".join(self.pairs_candidates)} (required); {", ".join(optional)} (optional); '
            f'{self.covers_dir}/<item>.jpg and {self.videos_dir}/<item>.mp4 (optional)')


_SITE = 'https://recsys.westlake.edu.cn/MicroLens-{}-Dataset/'
RELEASES = {
    'toy': Release('toy', TOY_PREFIX, f'{TOY_PREFIX}_title_en.csv', None,
                   pairs_files=(f'{TOY_PREFIX}_pairs.csv',)),
    '50k': Release('50k', 'MicroLens-50k', 'MicroLens-50k_titles.csv', _SITE.format('50k'),
                   has_item_files=False),
    '100k': Release('100k', 'MicroLens-100k', 'MicroLens-100k_title_en.csv', _SITE.format('100k')),
    '1m': Release('1m', 'MicroLens-1M', 'MicroLens-1M_title_en.csv', None),
    # The whole dataset (34,492,051 users, 1,006,528,709 interactions) is given on request by
    # its authors; jaxlens builds its interactions only.
    'full': Release('full', 'MicroLens', 'MicroLens_title_en.csv', None, has_item_files=False,
                    has_frames=False),
}
