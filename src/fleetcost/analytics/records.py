"""Ledger rows as JSON: the shape shared by `fleetcost calls --json` and the admin API.

Money is printed as decimal strings (never floats), an unpriced cost as null.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fleetcost.pricing.cost import format_usd
from fleetcost.types import LEDGER_FIELDS, CallRecord


def record_dict(rec: CallRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in LEDGER_FIELDS:
        value = getattr(rec, name)
        if isinstance(value, Decimal):
            value = format_usd(value)
        out[name] = value
    return out
