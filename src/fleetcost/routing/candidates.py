"""From a model name to the deployments that may answer it, in order.

A `[models.ALIAS]` entry gives its provider and upstream model, then its
`fallbacks` aliases in order; any other name goes to the default provider of
the client's protocol. Constraints then drop what the request cannot use:
deployments outside the tenant's allow-list (data residency: enforced here,
so a fallback can never leave it either), deployments of another wire
protocol, models whose context window cannot hold the prompt plus the
requested output, and models lacking a needed capability.
"""

from __future__ import annotations

from collections.abc import Callable

from fleetcost.config import Settings
from fleetcost.routing.base import Candidate, RouteInput, RouteRefused, RouteUnfit

ContextWindow = Callable[[str], int | None]


def chain(settings: Settings, name: str, kind: str) -> list[Candidate]:
    """The alias and its fallbacks (each once), or the default deployment of `kind`."""
    alias = settings.models.get(name)
    if alias is None:
        provider = _default_provider(settings, kind)
        if provider is None:
            return []
        cfg = settings.providers[provider]
        return [Candidate(name, provider, name, cfg.region)]
    out: list[Candidate] = []
    seen: set[str] = set()
    queue = [name]
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        model = settings.models[current]
        # The alias's own provider, then its interchangeable `deployments`, then fallbacks.
        for provider in dict.fromkeys([model.provider, *(model.deployments or ())]):
            cfg = settings.providers[provider]
            out.append(Candidate(current, provider, model.model or current, cfg.region))
        queue.extend(model.fallbacks)
    return out


def _default_provider(settings: Settings, kind: str) -> str | None:
    cfg = settings.providers.get(kind)
    if cfg is not None and cfg.kind == kind:
        return kind
    return next((n for n, c in settings.providers.items() if c.kind == kind), None)


def allowed(settings: Settings, tenant: str, candidate: Candidate) -> bool:
    rules = settings.routing.tenants.get(tenant)
    if rules is None:
        return True
    if rules.providers is not None and candidate.provider not in rules.providers:
        return False
    return rules.regions is None or candidate.region in rules.regions


def constrain(
    settings: Settings, request: RouteInput, kind: str, candidates: list[Candidate],
    window: ContextWindow,
) -> list[Candidate]:
    """Drop what this request may not or cannot use; raise when nothing is left."""
    same_kind = [c for c in candidates if settings.providers[c.provider].kind == kind]
    permitted = [c for c in same_kind if allowed(settings, request.tenant, c)]
    if same_kind and not permitted:
        raise RouteRefused(
            f"tenant {request.tenant!r} may not use any deployment of model "
            f"{request.requested_model!r}: its [routing.tenants] allow-list excludes "
            f"{', '.join(sorted({c.provider for c in same_kind}))}", param="model")
    needs = request.needs()
    capable = [c for c in permitted if needs <= _capabilities(settings, c)]
    if permitted and not capable:
        raise RouteRefused(f"no allowed deployment of {request.requested_model!r} supports "
                           f"{', '.join(sorted(needs))}", param="model")
    fitting = [c for c in capable if _fits(request, window(c.alias) or window(c.model))]
    if capable and not fitting:
        raise RouteUnfit(f"the prompt (about {request.tokens()} tokens) plus max output "
                         f"{request.max_output} exceeds the context window of every allowed "
                         f"deployment of {request.requested_model!r}", param="messages")
    return fitting


def _capabilities(settings: Settings, candidate: Candidate) -> set[str]:
    model = settings.models.get(candidate.alias)
    if model is None or model.capabilities is None:
        return {"tools", "images", "json"}
    return set(model.capabilities)


def _fits(request: RouteInput, window: int | None) -> bool:
    if window is None:
        return True
    room = window - request.max_output
    # Characters bound tokens from above: count only when that bound is too loose.
    return request.chars <= room or request.tokens() <= room
