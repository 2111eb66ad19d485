"""The `[routing]` section: which policies pick a model, in what order, and
the limits every pick must respect (data residency, cooldowns).

Kept apart from `fleetcost.config` so the routing room owns its keys; the
models are strict like the rest of the file (a typo fails at startup).
Tiers are named `weak` and `strong`: `weak` is the cheap model a policy may
choose, `strong` the reference a routed call's saving is measured against.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TierName = Literal["weak", "strong"]
RuleTarget = Literal["weak", "strong", "cascade"]
PolicyName = Literal["rules", "trained", "llm", "cascade"]
GateName = Literal["format", "confidence", "logprobs", "agreement", "verifier"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleConfig(_Strict):
    """One rule: every condition given must hold; the first matching rule decides."""

    name: str
    tier: RuleTarget
    task_types: list[str] | None = None
    tenants: list[str] | None = None
    min_input_tokens: int | None = Field(default=None, ge=0)
    max_input_tokens: int | None = Field(default=None, ge=0)
    tools: bool | None = None
    images: bool | None = None
    response_format: bool | None = None
    keywords: list[str] | None = None
    regex: str | None = None


class TrainedConfig(_Strict):
    path: str
    willingness_to_pay: float | None = Field(default=None, ge=0)


class LLMRouterConfig(_Strict):
    model: str
    timeout_s: float = Field(default=2.0, gt=0)
    max_chars: int = Field(default=2000, ge=100)
    fallback_tier: TierName = "strong"


class CascadeConfig(_Strict):
    gates: list[GateName] = Field(default_factory=lambda: list[GateName](["format"]))
    min_confidence: float = Field(default=0.7, ge=0, le=1)
    min_mean_logprob: float = Field(default=-0.7, le=0)
    min_agreement: float = Field(default=0.5, ge=0, le=1)
    agreement_temperature: float = Field(default=1.0, ge=0, le=2)
    verifier_model: str | None = None
    verifier_timeout_s: float = Field(default=5.0, gt=0)
    # What a gate does when its signal is absent (no logprobs, no stated confidence).
    missing_signal: Literal["accept", "escalate"] = "escalate"


class ShadowConfig(_Strict):
    sample_rate: float = Field(default=0.0, ge=0, le=1)
    # Similarity at or above which the cheap and strong answers count as agreeing.
    agree_threshold: float = Field(default=0.5, ge=0, le=1)


class TenantRouting(_Strict):
    # Allow-lists; a request of the tenant never reaches anything outside them.
    providers: list[str] | None = None
    regions: list[str] | None = None


class RoutingConfig(_Strict):
    # Requested model names that the policies route; other names go where they ask.
    models: list[str] = Field(default_factory=lambda: ["auto"])
    weak: str | None = None
    strong: str | None = None
    policies: list[PolicyName] = Field(default_factory=list)
    default_tier: TierName = "strong"
    cooldown_s: float = Field(default=30.0, ge=0)
    fallback_on_context_length: bool = True
    # Sessions remembered for affinity (0 turns it off).
    affinity_sessions: int = Field(default=50_000, ge=0)
    rules: list[RuleConfig] = Field(default_factory=list)
    trained: TrainedConfig | None = None
    llm: LLMRouterConfig | None = None
    cascade: CascadeConfig = CascadeConfig()
    shadow: ShadowConfig = ShadowConfig()
    tenants: dict[str, TenantRouting] = Field(default_factory=dict)
