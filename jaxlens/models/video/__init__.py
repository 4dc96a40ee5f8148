"""Video encoders; importing this package registers every family in `registry`."""

# pylint: disable=unused-import
from jaxlens.models.video import r3d  # noqa: F401
from jaxlens.models.video import resnet  # noqa: F401
from jaxlens.models.video import slowfast  # noqa: F401
from jaxlens.models.video import x3d  # noqa: F401
