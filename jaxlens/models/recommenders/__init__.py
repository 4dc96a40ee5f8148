"""Sequential user encoders by config name: `(B, L, D)` item embeddings -> `(B, L, D)` states."""

from jaxlens.models.recommenders.gru4rec import GRU4Rec
from jaxlens.models.recommenders.nextitnet import NextItNet
from jaxlens.models.recommenders.sasrec import SASRec

USER_ENCODERS = {'sasrec': SASRec, 'gru4rec': GRU4Rec, 'nextitnet': NextItNet}
