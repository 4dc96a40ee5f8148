"""User towers; importing this package registers every one by its config name."""

# pylint: disable=unused-import
from jaxlens.models.user_towers import (deepfm, dssm, grcn, gru4rec, lightgcn, mmgcn,
                                        nextitnet, nfm, sasrec, youtube)
from jaxlens.models.user_towers.base import REGISTRY, Tables, UserTower, UserTowerSpec
