"""What the pipeline needs from the running app, gathered in one object.

Built once when the app is wired (`server.app.create_app`) and passed to
every stage: settings, resolved deployments (a provider config plus its wire
adapter and key), the price catalog, the upstream HTTP client and the sinks
that receive finished ledger records. No stage reaches for global state.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from fleetcost.compress.memo import SummaryMemo
from fleetcost.config import GuardLimits, ProviderConfig, Settings
from fleetcost.errors import ConfigError
from fleetcost.pipeline.affinity import Affinity
from fleetcost.pipeline.budget_rules import Rule, compile_rules
from fleetcost.pipeline.caps import limits_for
from fleetcost.pipeline.guard_state import GuardBook
from fleetcost.pipeline.offload import BatchIntake, NoBatch
from fleetcost.pipeline.prefix import PrefixTracker
from fleetcost.pipeline.token_memo import TokenMemo
from fleetcost.pipeline.upstream import Timeout, UpstreamClient, timeout_for
from fleetcost.pricing.catalog import Catalog, price_from_dict
from fleetcost.providers import registry
from fleetcost.providers.base import WireAdapter
from fleetcost.routing.router import Router
from fleetcost.storage.base import BudgetLedger, CacheEntry, CacheStore
from fleetcost.storage.shadow import ShadowRecord
from fleetcost.types import CallRecord, Price

if TYPE_CHECKING:
    from fleetcost.cache.semcache import SemanticCache

RecordSink = Callable[[CallRecord], None]
# (call id, wire kind, request body): `[ledger] store_bodies` keeps them for replay.
BodySink = Callable[[str, str, bytes], None]


def discard_body(call_id: str, wire: str, body: bytes) -> None:
    """The null body sink: bodies are kept only when the config opts in."""


@dataclass(frozen=True, slots=True)
class Deployment:
    name: str
    config: ProviderConfig
    adapter: WireAdapter
    url: str
    api_key: str | None
    timeout: Timeout


def _deployment(name: str, cfg: ProviderConfig) -> Deployment:
    adapter = registry.get(cfg.kind)
    # Accept base URLs with or without the version segment, as the SDKs do.
    base = cfg.base_url.rstrip("/").removesuffix("/v1")
    path = adapter.chat_path if adapter.chat_path.startswith("/v1/") else "/v1" + adapter.chat_path
    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    return Deployment(name=name, config=cfg, adapter=adapter, url=base + path,
                      api_key=key or None,
                      timeout=timeout_for(cfg.timeout_s, cfg.connect_timeout_s))


@dataclass
class GatewayContext:
    settings: Settings
    catalog: Catalog
    upstream: UpstreamClient
    cache: CacheStore
    sinks: list[RecordSink] = field(default_factory=list)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    _price_memo: dict[str, Price | None] = field(default_factory=dict)
    # Cache entries handed to a worker thread and not yet in the store.
    cache_pending: dict[str, CacheEntry] = field(default_factory=dict)
    router: Router = field(init=False)
    # Off-the-hot-path work (shadow calls) kept referenced until it ends.
    background: set[object] = field(default_factory=set)
    shadow_sink: Callable[[ShadowRecord], None] | None = None
    # Block summaries of the compress stage, by block content.
    summaries: SummaryMemo = field(default_factory=SummaryMemo)
    # Budgets and guards: the reservation store, the compiled [[budgets]], this
    # process's owner id on its holds, and the bounded per-session guard state.
    budgets: BudgetLedger | None = None
    budget_rules: tuple[Rule, ...] = ()
    owner: str = field(default_factory=lambda: f"gw-{os.getpid()}-{random.getrandbits(32):08x}")
    guard_book: GuardBook = field(default_factory=lambda: GuardBook(1))
    _limits_memo: dict[str | None, GuardLimits] = field(default_factory=dict)
    token_memo: TokenMemo = field(default_factory=TokenMemo)
    # The semantic cache, when `[cache.semantic] enabled` (it loads numpy and a model).
    semantic: SemanticCache | None = None
    keep_body: BodySink = discard_body
    # Per-session prompt digests for the prefix doctor, and prefix -> deployment.
    prefix: PrefixTracker = field(default_factory=PrefixTracker)
    affinity: Affinity = field(default_factory=Affinity)
    # Where `X-Fleetcost-Latency: batch` calls go (the app wires a real one).
    batch: BatchIntake = field(default_factory=NoBatch)

    def __post_init__(self) -> None:
        self.budget_rules = compile_rules(self.settings.budgets)
        if self.budget_rules and self.budgets is None:
            raise ConfigError("[[budgets]] are configured but no budget store was wired")
        self.guard_book = GuardBook(self.settings.guards.max_sessions)
        self.deployments = {n: _deployment(n, c) for n, c in self.settings.providers.items()}
        self.summaries = SummaryMemo(self.settings.compress.summary_cache_entries)
        overrides = {
            alias: price_from_dict(m.model or alias, {"provider": m.provider, **m.price})
            for alias, m in self.settings.models.items() if m.price
        }
        if overrides:
            self.catalog = self.catalog.with_overrides(overrides)
        from fleetcost.pipeline.helpers import build_router

        self.router = build_router(self)

    def default_deployment(self, kind: str) -> Deployment | None:
        """The provider named after the protocol, else the first of that kind."""
        dep = self.deployments.get(kind)
        if dep is not None and dep.config.kind == kind:
            return dep
        return next((d for d in self.deployments.values() if d.config.kind == kind), None)

    def price(self, model: str) -> Price | None:
        try:
            return self._price_memo[model]
        except KeyError:
            price = self._price_memo[model] = self.catalog.get(model)
            return price

    def guard_limits(self, task: str | None) -> GuardLimits:
        key = task if task in self.settings.guards.tasks else None  # bounded by config
        try:
            return self._limits_memo[key]
        except KeyError:
            found = self._limits_memo[key] = limits_for(self.settings.guards, key)
            return found

    def emit(self, record: CallRecord) -> None:
        for sink in self.sinks:
            sink(record)


ZERO = Decimal(0)
