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
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    ledger: LedgerConfig = LedgerConfig()

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
