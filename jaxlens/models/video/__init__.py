"""Video encoders; importing this package registers every family in `registry`."""

from jaxlens.models.video import resnet  # noqa: F401  pylint: disable=unused-import
