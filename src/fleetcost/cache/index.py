"""The vector index now lives in storage (a narrow protocol, like every store).

Kept as a re-export so `eval cache`, the benchmark and older imports keep
working; new code imports from `fleetcost.storage`.
"""

from fleetcost.storage.base import VectorIndex
from fleetcost.storage.vector_numpy import NumpyIndex

__all__ = ["NumpyIndex", "VectorIndex"]
