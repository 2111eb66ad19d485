"""The router: `[routing] policies` in order, then the plan of deployments.

For a requested model listed in `[routing] models` (default `auto`) the
policies decide in order; the first that decides wins, else
`default_tier`. A `weak` decision tries the weak chain, then the strong one
as the last fallbacks (a down cheap model must not fail the call); `strong`
tries the strong chain; `cascade` tries weak, and hands the strong chain to
the cascade for escalation. Any other model name is served as asked, with its
own fallbacks. Every chain is filtered by `candidates.constrain`, and ordered
by the cooldowns.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from importlib import resources
from typing import Any

from fleetcost.config import Settings
from fleetcost.routing.affinity import Affinity
from fleetcost.routing.base import (
    Candidate,
    Decision,
    RouteInput,
    RoutePlan,
    RouteRefused,
    RouteUnfit,
    RoutingPolicy,
)
from fleetcost.routing.candidates import ContextWindow, chain, constrain
from fleetcost.routing.config import RuleConfig
from fleetcost.routing.cooldown import Cooldowns
from fleetcost.routing.llm_router import Ask, LLMRouterPolicy
from fleetcost.routing.rules import RulesPolicy


class CascadePolicy:
    """Always decides `cascade`: place it last, after the policies that may be sure."""

    name = "cascade"

    def __init__(self, gates: list[str]) -> None:
        self._gates = gates

    async def decide(self, request: RouteInput) -> Decision:
        gates = "+".join(self._gates)
        return Decision("cascade", "cascade", f"weak first, gates {gates}")


def build_policies(settings: Settings, ask: Ask,
                   trained: Callable[[], Any] | None = None) -> list[RoutingPolicy]:
    cfg = settings.routing
    out: list[RoutingPolicy] = []
    for name in cfg.policies:
        if name == "rules":
            out.append(RulesPolicy(cfg.rules))
        elif name == "cascade":
            out.append(CascadePolicy(list(cfg.cascade.gates)))
        elif name == "llm":
            if cfg.llm is None:
                raise ValueError("routing.policies lists llm without [routing.llm]")
            out.append(LLMRouterPolicy(cfg.llm, ask))
        else:
            from fleetcost.routing.policies.trained import TrainedPolicy

            if cfg.trained is None:
                raise ValueError("routing.policies lists trained without [routing.trained]")
            out.append(TrainedPolicy(cfg.trained, trained() if trained else None))
    return out


def load_defaults() -> tuple[dict[str, str], list[RuleConfig]]:
    """The cheaper-sibling table and default rules for opted-in requests (data file)."""
    text = resources.files("fleetcost.routing").joinpath("defaults.toml").read_text()
    data = tomllib.loads(text)
    return dict(data.get("cheaper", {})), [RuleConfig(**r) for r in data.get("rules", [])]


class Router:
    def __init__(self, settings: Settings, policies: list[RoutingPolicy],
                 window: ContextWindow) -> None:
        self.settings = settings
        self.policies = policies
        self.window = window
        self.cooldowns = Cooldowns(settings.routing.cooldown_s)
        self.affinity = Affinity(settings.routing.affinity_sessions)
        cfg = settings.routing
        # Routed names need both tiers; with no policy they get `default_tier`.
        both = cfg.weak is not None and cfg.strong is not None
        self._routed = frozenset(cfg.models) if both else frozenset()
        self._cheaper, rules = load_defaults()
        self._opt_in_policies = policies or [RulesPolicy(rules)]

    async def decide(self, request: RouteInput,
                     policies: list[RoutingPolicy] | None = None) -> Decision:
        for policy in self.policies if policies is None else policies:
            decision = await policy.decide(request)
            if decision is not None:
                return decision
        return Decision(self.settings.routing.default_tier, "default", "no policy decided")

    def tiers(self, request: RouteInput) -> tuple[str, str] | None:
        """(weak, strong) when this request is routed, else None (serve as asked)."""
        name, cfg = request.requested_model, self.settings.routing
        if request.opt == "off":
            return None
        if name in self._routed:
            assert cfg.weak is not None and cfg.strong is not None
            return cfg.weak, cfg.strong
        if request.opt == "auto":
            weak = cfg.weak or self._cheaper.get(name)
            if weak is not None and weak != name:
                return weak, name
        return None

    async def plan(self, request: RouteInput, kind: str) -> RoutePlan:
        name = request.requested_model
        tiers = self.tiers(request)
        if tiers is None:
            steps = self._chain(request, kind, name)
            reason = f"alias:{name}" if name in self.settings.models else "direct"
            return RoutePlan(self._order(request, steps), reason)
        policies = self.policies if name in self._routed else self._opt_in_policies
        decision = await self.decide(request, policies)
        strong = self._chain(request, kind, tiers[1], required=False)
        weak = self._chain(request, kind, tiers[0], required=not strong)
        escalate: list[Candidate] = []
        if decision.target == "strong" or not weak:
            steps = strong
        elif decision.target == "weak":
            steps = weak + [c for c in strong if c not in weak]
        else:
            steps, escalate = weak, strong
        if not steps:
            steps = self._chain(request, kind, tiers[1])  # raises the constraint's error
        return RoutePlan(self._order(request, steps), decision.reason,
                         self._order(request, escalate), routed=True,
                         weak=frozenset(c.key for c in weak),
                         reference=strong[0] if strong else None)

    def _order(self, request: RouteInput, steps: list[Candidate]) -> tuple[Candidate, ...]:
        """Session affinity first, then ready deployments before cooling ones."""
        return tuple(self.cooldowns.order(self.affinity.order(request.session, steps)))

    def _chain(self, request: RouteInput, kind: str, name: str,
               required: bool = True) -> list[Candidate]:
        found = chain(self.settings, name, kind)
        try:
            return constrain(self.settings, request, kind, found, self.window)
        except (RouteRefused, RouteUnfit):
            if required:
                raise
            return []
