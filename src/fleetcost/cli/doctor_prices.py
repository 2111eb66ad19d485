"""Prices and shares for `fleetcost doctor`: the catalog as configured, the bill's total."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

from fleetcost.analytics.doctor import Finding
from fleetcost.config import load_settings
from fleetcost.pricing.catalog import load_catalog
from fleetcost.types import CallRecord, Price


def price_lookup(config: str | None) -> Callable[[str], Price | None]:
    """The bundled catalog with the config's extra catalog merged over it."""
    catalog = load_catalog()
    extra_path = load_settings(config).pricing.catalog
    if extra_path:
        extra = load_catalog(Path(extra_path))
        catalog = catalog.with_overrides({m: p for m in extra.models()
                                          if (p := extra.get(m)) is not None})
    return catalog.get


def share_of(finding: Finding, rows: Sequence[CallRecord]) -> str | None:
    """The finding's usd as a fraction of the ledger's known spend (4 places)."""
    if finding.cost_usd is None:
        return None
    total = sum((r.cost_usd for r in rows if r.cost_usd is not None), Decimal(0))
    if total == 0:
        return "0"
    return str((finding.cost_usd / total).quantize(Decimal("0.0001")))
