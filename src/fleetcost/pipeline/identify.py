"""Identify stage: who is this call for?

Attribution comes from `X-Fleetcost-*` request headers, or from the same keys
in the body's `metadata` (for clients that cannot set headers); a header
wins over metadata. Values are truncated to keep the ledger sane when a
client sends something huge.
"""

from __future__ import annotations

from fleetcost.pipeline.state import CallState
from fleetcost.types import Identity

_MAX = 200
# identity attribute -> (header, metadata key)
_FIELDS = (
    ("tenant", "x-fleetcost-tenant", "tenant"),
    ("agent_id", "x-fleetcost-agent", "agent"),
    ("session_id", "x-fleetcost-session", "session"),
    ("task_type", "x-fleetcost-task", "task"),
    ("parent_id", "x-fleetcost-parent", "parent"),
    ("team", "x-fleetcost-team", "team"),
)
_TAGS = ("x-fleetcost-tags", "tags")
_MAX_TAGS = 16


def identify(state: CallState) -> None:
    meta = state.request.metadata if state.request is not None else {}
    ident = Identity()
    for attr, header, key in _FIELDS:
        value = state.headers.get(header) or meta.get(key)
        if value:
            setattr(ident, attr, value[:_MAX])
    tags = state.headers.get(_TAGS[0]) or meta.get(_TAGS[1])
    if tags:
        ident.tags = tuple(t.strip()[:_MAX] for t in tags.split(",") if t.strip())[:_MAX_TAGS]
    state.identity = ident
