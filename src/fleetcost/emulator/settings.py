"""What an emulator run is configured with, and the per-model data table.

Settings are frozen: one `EmulatorSettings` describes a run, and everything
that changes while it serves (caches, counters, the fault draws) lives in the
`Emulator` built from it. Time constants (cache TTLs, the fault hang) are
settings rather than constants so tests can shrink a five-minute TTL to a
second instead of waiting for it.

Fault specs read like the CLI flag: `429:0.05,500:0.02,timeout:0.01,
cut-stream:0.01` -- each kind with the probability that a request draws it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

Latency = Literal["zero", "realistic"]

# Status codes a fault may answer with, beside the two behavioural faults.
FAULT_STATUSES = frozenset({"429", "500", "502", "503", "529"})
# `expire` applies to batch requests only (they expire unprocessed).
FAULT_KINDS = FAULT_STATUSES | {"timeout", "cut-stream", "expire"}


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    seed: int = 0
    latency: Latency = "zero"
    faults: tuple[tuple[str, float], ...] = ()
    # How long a `timeout` fault hangs before it answers normally.
    fault_timeout_seconds: float = 600.0
    retry_after_seconds: int = 1
    # OpenAI evicts automatic-cache prefixes after 5-10 minutes idle.
    openai_cache_ttl: float = 300.0
    anthropic_ttl_5m: float = 300.0
    anthropic_ttl_1h: float = 3600.0
    # Output length ~ lognormal(median, sigma), clipped to the request's limit
    # (or to output_max when the request sets none).
    output_median: float = 150.0
    output_sigma: float = 0.6
    output_max: int = 4096
    # Bounds on memory: answers remembered per request body, prefix entries.
    plan_cache_size: int = 4096
    # Seconds between a batch's creation and its results (providers take up to 24 h).
    batch_delay_seconds: float = 1.0
    max_prefix_entries: int = 1_000_000
    # Leave usage out of every answer, like OpenAI-compatible hosts that omit it
    # (one request can ask the same with the header `X-Emulator-Usage: omit`).
    omit_usage: bool = False

    def __post_init__(self) -> None:
        if self.latency not in ("zero", "realistic"):
            raise ValueError(f"latency must be 'zero' or 'realistic', not {self.latency!r}")
        if self.output_median < 1 or self.output_sigma < 0 or self.output_max < 1:
            raise ValueError("output_median and output_max must be >= 1, output_sigma >= 0")
        check_faults(self.faults)


def parse_faults(spec: str) -> tuple[tuple[str, float], ...]:
    """`"429:0.05,timeout:0.01"` -> `(("429", 0.05), ("timeout", 0.01))`."""
    faults: list[tuple[str, float]] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kind, sep, rate = item.rpartition(":")
        if not sep:
            raise ValueError(f"fault {item!r} must be KIND:RATE, e.g. 429:0.05")
        try:
            faults.append((kind.strip(), float(rate)))
        except ValueError:
            raise ValueError(f"fault rate in {item!r} is not a number") from None
    result = tuple(faults)
    check_faults(result)
    return result


def check_faults(faults: tuple[tuple[str, float], ...]) -> None:
    for kind, rate in faults:
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; use one of {', '.join(sorted(FAULT_KINDS))}"
            )
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate for {kind} must be between 0 and 1, not {rate}")
    if sum(rate for _, rate in faults) > 1.0:
        raise ValueError("fault rates add up to more than 1")


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """How one model behaves: speed, reasoning, cache minimum, listing protocol."""

    name: str
    protocol: str | None = None
    ttft: float = 0.5
    tokens_per_second: float = 70.0
    prefill_tokens_per_second: float = 20000.0
    min_cacheable_tokens: int = 1024
    reasoning: bool = False


@dataclass(slots=True)
class ModelTable:
    """The bundled `models.toml`, with longest-prefix lookup memoised per id."""

    defaults: dict[str, Any]
    entries: dict[str, dict[str, Any]]
    _memo: dict[str, ModelProfile] = field(default_factory=dict)

    @classmethod
    def bundled(cls) -> ModelTable:
        text = resources.files("fleetcost.emulator").joinpath("models.toml").read_text()
        data = tomllib.loads(text)
        return cls(defaults=dict(data.get("defaults", {})), entries=dict(data.get("models", {})))

    def profile(self, model: str) -> ModelProfile:
        found = self._memo.get(model)
        if found is None:
            if len(self._memo) >= 10_000:  # clients may send any model id
                self._memo.clear()
            found = self._memo[model] = self._resolve(model)
        return found

    def _resolve(self, model: str) -> ModelProfile:
        # `openai/gpt-4o` and `gpt-4o` behave alike: the prefix is routing, not model.
        bare = model.rsplit("/", 1)[-1]
        keys = [k for k in self.entries if bare.startswith(k)]
        values = dict(self.defaults)
        if keys:
            values.update(self.entries[max(keys, key=len)])
        known = ModelProfile.__dataclass_fields__
        return ModelProfile(name=model, **{k: v for k, v in values.items() if k in known})

    def listed(self, protocol: str) -> list[str]:
        """Model ids that GET /v1/models shows for one protocol."""
        return [name for name, v in self.entries.items() if v.get("protocol") == protocol]
