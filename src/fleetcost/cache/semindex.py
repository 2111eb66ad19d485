"""Which vector index the semantic cache uses, from config over the data-file defaults.

Kept apart from `semcache.py` so the gateway, the benchmark and `eval cache`
build the very same index from the same settings.
"""

from __future__ import annotations

from fleetcost.config import SemanticCacheConfig
from fleetcost.storage.base import VectorIndex

KINDS = ("ivf", "exact")


def index_kind(cfg: SemanticCacheConfig | None = None) -> str:
    from fleetcost.storage.vector_ivf import index_defaults

    chosen = cfg.index if cfg is not None else None
    return chosen or str(index_defaults()["index"])


def build_index(cfg: SemanticCacheConfig | None = None, kind: str | None = None,
                dim: int = 384) -> VectorIndex:
    """A fresh index of `kind` (default: the configured one), knobs from `cfg.ivf`."""
    kind = kind or index_kind(cfg)
    if kind == "exact":
        from fleetcost.storage.vector_numpy import NumpyIndex

        return NumpyIndex(dim)
    if kind != "ivf":
        raise ValueError(f"unknown vector index {kind!r}; expected one of {', '.join(KINDS)}")
    from fleetcost.storage.vector_ivf import IvfIndex, IvfParams

    knobs = (cfg or SemanticCacheConfig()).ivf
    return IvfIndex(dim, IvfParams.defaults(**knobs.model_dump()))
