"""The one place that maps a provider `kind` (from `[providers.NAME] kind = ...`)
to its wire adapter.

Adapters hold no state, so one instance of each is built at import and shared
by every request; the mapping itself is read-only. Adding a protocol means one
new module and one line here.
"""

from __future__ import annotations

from types import MappingProxyType

from fleetcost.errors import ConfigError
from fleetcost.providers.anthropic import AnthropicAdapter
from fleetcost.providers.base import WireAdapter
from fleetcost.providers.openai import OpenAIAdapter

_ADAPTERS: MappingProxyType[str, WireAdapter] = MappingProxyType({
    "openai": OpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
})


def get(kind: str) -> WireAdapter:
    """The adapter for `kind`; an unknown kind is a configuration mistake."""
    try:
        return _ADAPTERS[kind]
    except KeyError:
        raise ConfigError(
            f"Unknown provider kind {kind!r}; use one of: {', '.join(kinds())}."
        ) from None


def kinds() -> tuple[str, ...]:
    return tuple(_ADAPTERS)
