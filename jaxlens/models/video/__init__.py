"""Video encoders; importing this package registers every family by its config names."""

# pylint: disable=unused-import
from jaxlens.models.video import mvit, r3d, resnet, slowfast, tiny, videomae, x3d
