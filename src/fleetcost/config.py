"""Configuration: one TOML file loaded into strict typed models.

Unknown keys are rejected (a typo must fail at startup, not silently do
nothing), secrets are never read from the file, only the *names* of the
environment variables that hold them. With no file at all the defaults give a
working gateway: SQLite ledger `./fleetcost.db`, providers `openai` and
`anthropic` at their public URLs.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleetcost.errors import ConfigError
from fleetcost.routing.config import RoutingConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    # Environment variable holding the admin key for /fleetcost/v1/...; when
    # unset, the admin API answers loopback clients only.
    admin_key_env: str = "FLEETCOST_ADMIN_KEY"


class StorageConfig(_Strict):
    kind: Literal["sqlite", "memory"] = "sqlite"
    path: str = "fleetcost.db"
    # The ledger writer flushes when this many records wait, or after flush_ms.
    batch_size: int = Field(default=256, ge=1)
    flush_ms: int = Field(default=50, ge=1)
    # Budget ledger file for kind = "sqlite"; default: beside the ledger.
    budgets_path: str | None = None
    # Seconds a budget reservation lives if its call never settles (crashed process).
    reservation_ttl_s: float = Field(default=900.0, gt=0)


class ProviderConfig(_Strict):
    kind: Literal["openai", "anthropic"]
    base_url: str
    api_key_env: str | None = None
    timeout_s: float = Field(default=600.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    retry_backoff_s: float = Field(default=0.25, ge=0)
    # Where the deployment keeps data; tenants' `[routing.tenants]` allow-lists read it.
    region: str | None = None


class ModelConfig(_Strict):
    provider: str
    # Upstream model id; defaults to the alias itself.
    model: str | None = None
    # Price override, USD per million tokens as decimal strings
    # (input, output, cache_read, cache_write_5m, cache_write_1h, batch_discount).
    price: dict[str, str] | None = None
    # Aliases tried in order when this one fails (429, 5xx, timeout, context length).
    fallbacks: list[str] = Field(default_factory=list)
    # What the model can take (tools, images, json); none listed: assume all.
    capabilities: list[str] | None = None
    # More providers (same kind) serving this alias interchangeably; requests
    # sharing a stable prefix stick to one of them for the cache TTL.
    deployments: list[str] | None = None


class AnthropicBreakpointsConfig(_Strict):
    # Add cache_control markers at the end of the stable prefix when the client set none there.
    auto: bool = False


class SemanticIvfConfig(_Strict):
    # Unset keys take their value from storage/semantic_index.toml.
    train_at: int | None = Field(default=None, ge=16)
    list_size: int | None = Field(default=None, ge=8)
    nprobe: int | None = Field(default=None, ge=1)
    iterations: int | None = Field(default=None, ge=1, le=100)
    sample_per_list: int | None = Field(default=None, ge=4)
    seed: int | None = None


class SemanticCacheConfig(_Strict):
    # Off by default: it needs the `semantic` extra and the model package.
    enabled: bool = False
    # Minimum cosine to consider a stored question, unless the task type has its own.
    # None: the floor the default verifier was chosen with (cache/verifier_cross.json).
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # Task type (X-Fleetcost-Task) -> threshold.
    thresholds: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    # Preceding conversation turns embedded with the last user turn; older ones must match.
    context_turns: int = Field(default=0, ge=0, le=8)
    # Bound on the characters of those context turns (the most recent are kept).
    context_chars: int = Field(default=1000, ge=0, le=20_000)
    ttl_s: float = Field(default=86_400.0, gt=0)
    max_entries: int = Field(default=100_000, ge=1)
    # SQLite file of entries and vectors; default: beside the ledger.
    path: str | None = None
    # MiniLM runtime: auto = onnx when onnxruntime and onnx are installed, else numpy.
    embedding_runtime: Literal["auto", "onnx", "numpy"] = "auto"
    # Vector index: "ivf" (approximate) or "exact"; unset: storage/semantic_index.toml.
    index: Literal["ivf", "exact"] | None = None
    ivf: SemanticIvfConfig = SemanticIvfConfig()


class CacheConfig(_Strict):
    # on | off | read-only | write-only; X-Fleetcost-Cache overrides it per request.
    mode: Literal["on", "off", "read-only", "write-only"] = "on"
    ttl_s: float = Field(default=3600.0, gt=0)
    # Cache answers of sampled requests (temperature > 0 or unset, and no seed)?
    cache_sampled: bool = False
    # Cache file for storage.kind = "sqlite"; default: beside the ledger.
    path: str | None = None
    # Bound on entries for storage.kind = "memory".
    max_entries: int = Field(default=100_000, ge=1)
    semantic: SemanticCacheConfig = SemanticCacheConfig()
    anthropic_breakpoints: AnthropicBreakpointsConfig = AnthropicBreakpointsConfig()


class BudgetConfig(_Strict):
    """One `[[budgets]]` table (docs/config.md explains scopes, windows and actions)."""

    name: str | None = None
    scope: Literal["tenant", "team", "agent", "session", "task", "tag"]
    match: str = "*"
    limit_usd: Decimal | None = Field(default=None, ge=0)
    limit_tokens: int | None = Field(default=None, ge=0)
    window: Literal["call", "session", "hour", "day", "month", "total"] = "day"
    action: Literal["block", "degrade", "summarize"] = "block"
    soft_usd: Decimal | None = Field(default=None, ge=0)
    # The degrade plan (soft limit passed, or action = "degrade" at the hard limit):
    degrade_models: list[str] = Field(default_factory=list)
    degrade_max_tokens: int | None = Field(default=None, ge=1)
    degrade_compress: bool = True
    summarize_max_tokens: int = Field(default=256, ge=1)

    @model_validator(mode="after")
    def _has_a_limit(self) -> BudgetConfig:
        if self.limit_usd is None and self.limit_tokens is None:
            raise ValueError("a budget needs limit_usd or limit_tokens")
        return self


class GuardLimits(_Strict):
    """Guard limits; `[guards]` sets the defaults, `[guards.tasks.NAME]` overrides per task."""

    max_steps: int | None = Field(default=None, ge=1)
    max_session_s: float | None = Field(default=None, gt=0)
    loop_repeats: int | None = Field(default=None, ge=2)
    loop_window_s: float | None = Field(default=None, gt=0)
    growth_steps: int | None = Field(default=None, ge=2)
    max_output_tokens: int | None = Field(default=None, ge=1)
    max_input_tokens: int | None = Field(default=None, ge=1)


class GuardsConfig(GuardLimits):
    enabled: bool = True
    loop_repeats: int | None = Field(default=8, ge=2)
    loop_window_s: float | None = Field(default=600.0, gt=0)
    # Bound on sessions tracked in memory (least recently seen dropped first).
    max_sessions: int = Field(default=100_000, ge=1)
    tasks: dict[str, GuardLimits] = Field(default_factory=dict)
class LedgerConfig(_Strict):
    # Keep each request's body (after redaction) in the ledger's `call_bodies`
    # table so `fleetcost replay LEDGER.db` can re-run it. Off: bodies hold
    # prompts, which many teams may not keep.
    store_bodies: bool = False
    # Regular expressions whose matches are replaced by "[REDACTED]" before a
    # body is stored (in addition to the built-in key patterns).
    redact: list[str] = Field(default_factory=list)


class PricingConfig(_Strict):
    # Extra catalog file (written by `fleetcost prices import`), merged over the bundled one.
    catalog: str | None = None


CompressPolicy = Literal["trim", "dedupe", "window", "summary", "prune"]


def _default_policies() -> list[CompressPolicy]:
    return ["trim", "dedupe", "summary"]


class CompressConfig(_Strict):
    # Off by default; on for every call, or only for the task types listed.
    # X-Fleetcost-Compress and a budget's degrade plan override both per call.
    enabled: bool = False
    task_types: list[str] = Field(default_factory=list)
    # Run in this order; see docs/config.md for what each does.
    policies: list[CompressPolicy] = Field(default_factory=_default_policies)
    # Prompts smaller than this are sent as they are.
    min_input_tokens: int = Field(default=2000, ge=0)
    keep_last_turns: int = Field(default=6, ge=1)
    block_turns: int = Field(default=8, ge=1)
    keep_tool_results: bool = True
    keep_corrections: bool = True
    trim_tool_tokens: int = Field(default=1500, ge=16)
    dedupe_min_chars: int = Field(default=200, ge=1)
    prune_budget_tokens: int = Field(default=6000, ge=1)
    # window and summary cut a block only if it pays back the prefix cache it
    # breaks within this many turns; 0 cuts regardless.
    payback_turns: int = Field(default=4, ge=0)
    # Candidates for the summary model; the first one served over the
    # client's protocol is used.
    summary_models: list[str] = Field(
        default_factory=lambda: ["gpt-4o-mini", "claude-haiku-4-5"])
    summary_max_tokens: int = Field(default=400, ge=16)
    summary_cache_entries: int = Field(default=10_000, ge=1)


class AlertsConfig(_Strict):
    """Alert rules (analytics/alerts.py); thresholds default to the seed's table."""

    enabled: bool = True
    interval_s: float = Field(default=300.0, gt=0)
    # POSTed a JSON body when an alert fires or resolves; none by default.
    webhook_url: str | None = None
    window_hours: int = Field(default=24, ge=1)
    baseline_days: int = Field(default=7, ge=1)
    noise_sigmas: float = Field(default=3.0, ge=0)
    min_calls: int = Field(default=20, ge=1)
    cost_per_agent_hour_rise: float = Field(default=0.20, gt=0)
    cache_hit_rate_min: float = Field(default=0.80, ge=0, le=1)
    cache_min_eligible: int = Field(default=50, ge=1)
    escalation_rate_max: float = Field(default=0.40, ge=0, le=1)
    token_efficiency_drop: float = Field(default=0.30, gt=0, lt=1)
    tail_cost_ratio_max: float = Field(default=10.0, gt=1)
    context_growth: float = Field(default=0.20, gt=0)
    spend_anomaly_x: float = Field(default=3.0, gt=1)
    spend_anomaly_min_usd: str = "0.10"


class TelemetryConfig(_Strict):
    # OTLP/HTTP collector base URL (spans go to <url>/v1/traces); none = no spans.
    otlp_endpoint: str | None = None
    service_name: str = "fleetcost"
class BatchConfig(_Strict):
    # Accept `X-Fleetcost-Latency: batch` calls (needs storage.kind = "sqlite").
    enabled: bool = True
    # Most requests in one provider batch (both providers allow far more).
    max_items: int = Field(default=10_000, ge=1)
    # Submit a provider/model's queue once its oldest item waited this long.
    flush_s: float = Field(default=60.0, gt=0)
    # How often submitted batches are polled.
    poll_s: float = Field(default=30.0, gt=0)
    # POSTed a JSON summary when a batch's results are in (optional).
    webhook_url: str | None = None


def _default_providers() -> dict[str, ProviderConfig]:
    return {
        "openai": ProviderConfig(
            kind="openai", base_url="https://api.openai.com", api_key_env="OPENAI_API_KEY"
        ),
        "anthropic": ProviderConfig(
            kind="anthropic", base_url="https://api.anthropic.com",
            api_key_env="ANTHROPIC_API_KEY",
        ),
    }


class Settings(_Strict):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    providers: dict[str, ProviderConfig] = Field(default_factory=_default_providers)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    pricing: PricingConfig = PricingConfig()
    cache: CacheConfig = CacheConfig()
    routing: RoutingConfig = RoutingConfig()
    compress: CompressConfig = CompressConfig()
    alerts: AlertsConfig = AlertsConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    budgets: list[BudgetConfig] = Field(default_factory=list)
    guards: GuardsConfig = GuardsConfig()
    ledger: LedgerConfig = LedgerConfig()
    batch: BatchConfig = BatchConfig()

    def with_upstreams(self, upstreams: dict[str, str]) -> Settings:
        """Apply `--upstream NAME=URL`: repoint a provider (or add one of that kind)."""
        providers = dict(self.providers)
        for name, url in upstreams.items():
            if name in providers:
                providers[name] = providers[name].model_copy(update={"base_url": url})
            elif name in ("openai", "anthropic"):
                providers[name] = ProviderConfig(kind=name, base_url=url)  # type: ignore[arg-type]
            else:
                raise ConfigError(
                    f"--upstream {name}=...: no provider named {name!r}; "
                    "declare it under [providers.{name}] with a kind"
                )
        return self.model_copy(update={"providers": providers})


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the config file named by `path` or `FLEETCOST_CONFIG`; defaults if neither."""
    path = path or os.environ.get("FLEETCOST_CONFIG")
    data: dict[str, object] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"config {path}: {where}: {err['msg']}") from exc
    db = os.environ.get("FLEETCOST_DB")
    if db:
        settings = settings.model_copy(
            update={"storage": settings.storage.model_copy(update={"path": db})}
        )
    for alias, model in settings.models.items():
        if model.provider not in settings.providers:
            raise ConfigError(
                f"config {path}: models.{alias}.provider names {model.provider!r}, "
                "which is not under [providers]"
            )
        for extra in model.deployments or ():
            if extra not in settings.providers:
                raise ConfigError(
                    f"config {path}: models.{alias}.deployments names {extra!r}, "
                    "which is not under [providers]"
                )
    _check_routing(settings, path)
    return settings


def _check_routing(settings: Settings, path: object) -> None:
    """Names in `[routing]` and `fallbacks` must resolve at startup, not per call."""
    for alias, model in settings.models.items():
        for name in model.fallbacks:
            if name not in settings.models:
                raise ConfigError(f"config {path}: models.{alias}.fallbacks names {name!r}, "
                                  "which is not under [models]")
    routing = settings.routing
    if routing.policies and (routing.weak is None or routing.strong is None):
        raise ConfigError(f"config {path}: routing.policies needs routing.weak and "
                          "routing.strong (the two tiers a policy chooses between)")
    for tenant, allow in routing.tenants.items():
        for name in allow.providers or ():
            if name not in settings.providers:
                raise ConfigError(f"config {path}: routing.tenants.{tenant}.providers "
                                  f"names {name!r}, which is not under [providers]")
