"""Video encoders; importing this package registers every family by its config names."""

from jaxlens.models.video import mvit, tiny, videomae  # pylint: disable=unused-import
