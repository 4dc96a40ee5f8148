"""Item towers; importing this package registers every one by its config name."""

# pylint: disable=unused-import
from jaxlens.models.item_towers import features, ids, video
from jaxlens.models.item_towers.base import REGISTRY, ItemTower, ItemTowerSpec
