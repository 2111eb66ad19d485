"""The routing contract: what a policy reads, what it answers, what a plan is.

A policy looks at a `RouteInput` and either decides a target (`weak`,
`strong` or `cascade`: try weak, escalate on a gate's verdict) with a reason,
or passes (returns None) so the next policy in `[routing] policies` decides.
The router turns the decision into a `RoutePlan`: the ordered deployments to
try, with the reason that lands in `X-Fleetcost-Route` and the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fleetcost.errors import FleetcostError

Target = Literal["weak", "strong", "cascade"]
_SPACES = re.compile(r"\s+")


class RouteRefused(FleetcostError):
    """No deployment may take this request (data residency or capabilities)."""

    status = 403
    error_type = "permission_error"


class RouteUnfit(FleetcostError):
    """No allowed deployment can hold the request (context window)."""

    status = 400
    error_type = "invalid_request_error"


@dataclass(slots=True)
class RouteInput:
    """What policies read about a request; built once per call.

    `input_tokens` is counted only when a policy asks (`tokens()`): counting
    a long prompt costs more than every other routing step together.
    """

    requested_model: str
    tenant: str
    task_type: str | None
    text: str  # the last user turn's text
    chars: int  # characters of the whole prompt (an upper bound on its tokens)
    max_output: int
    tools: bool = False
    images: bool = False
    response_format: bool = False
    count: Callable[[], int] = lambda: 0
    # The request header `X-Fleetcost-Route`: `auto` opts a named model into
    # routing, `off` serves even a routed name as asked.
    opt: str | None = None
    session: str | None = None
    # The pipeline's own per-call object, opaque here; helper calls made on the
    # request's behalf (the LLM router) are attributed to it.
    state: object = None
    _tokens: int | None = field(default=None, repr=False)

    def tokens(self) -> int:
        if self._tokens is None:
            self._tokens = self.count()
        return self._tokens

    def needs(self) -> set[str]:
        """Capabilities a model must have to take this request."""
        out = set()
        if self.tools:
            out.add("tools")
        if self.images:
            out.add("images")
        if self.response_format:
            out.add("json")
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    target: Target
    policy: str
    why: str

    @property
    def reason(self) -> str:
        return f"{self.policy}:{_SPACES.sub(' ', self.why)}"[:200]


class RoutingPolicy(Protocol):
    name: str

    async def decide(self, request: RouteInput) -> Decision | None: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """One deployment that can answer: a provider and the upstream model there."""

    alias: str
    provider: str
    model: str
    region: str | None = None

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Deployments to try in order; `escalate` is the strong chain of a cascade.

    `routed` says a policy chose the tier (so the call's saving is measured
    against `reference`, the strong model); `weak` marks the weak tier's
    deployments (by `Candidate.key`).
    """

    steps: tuple[Candidate, ...]
    reason: str
    escalate: tuple[Candidate, ...] = ()
    routed: bool = False
    weak: frozenset[str] = frozenset()
    # The strong tier's first deployment: the price a routed call's saving is
    # measured against, and where shadow calls go.
    reference: Candidate | None = None
