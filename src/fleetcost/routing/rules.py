"""Rule policy: the first `[[routing.rules]]` entry whose conditions all hold decides.

Conditions are cheap facts of the request (task type, tenant, size, tools,
images, `response_format`, keywords, a regex); a rule with no conditions
always matches, which makes a catch-all last rule. Token counting runs only
for rules that name a token bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from fleetcost.routing.base import Decision, RouteInput
from fleetcost.routing.config import RuleConfig

Check = Callable[[RouteInput], bool]


def _checks(rule: RuleConfig) -> list[tuple[str, Check]]:
    out: list[tuple[str, Check]] = []
    if rule.task_types is not None:
        types = frozenset(rule.task_types)
        out.append(("task", lambda r: r.task_type in types))
    if rule.tenants is not None:
        tenants = frozenset(rule.tenants)
        out.append(("tenant", lambda r: r.tenant in tenants))
    for flag in ("tools", "images", "response_format"):
        want = getattr(rule, flag)
        if want is not None:
            out.append((flag, _flag_check(flag, want)))
    if rule.min_input_tokens is not None:
        low = rule.min_input_tokens
        out.append((f"tokens>={low}", lambda r: r.tokens() >= low))
    if rule.max_input_tokens is not None:
        high = rule.max_input_tokens
        # A prompt of fewer characters than the bound has fewer tokens too.
        out.append((f"tokens<={high}", lambda r: r.chars <= high or r.tokens() <= high))
    if rule.keywords:
        words = tuple(w.lower() for w in rule.keywords)
        out.append(("keyword", lambda r: any(w in r.text.lower() for w in words)))
    if rule.regex is not None:
        pattern = re.compile(rule.regex)
        out.append(("regex", lambda r: pattern.search(r.text) is not None))
    return out


def _flag_check(flag: str, want: bool) -> Check:
    return lambda r: getattr(r, flag) is want


class RulesPolicy:
    name = "rules"

    def __init__(self, rules: Sequence[RuleConfig]) -> None:
        self._rules = [(rule, _checks(rule)) for rule in rules]

    async def decide(self, request: RouteInput) -> Decision | None:
        return self.match(request)

    def match(self, request: RouteInput) -> Decision | None:
        for rule, checks in self._rules:
            if all(check(request) for _, check in checks):
                why = ",".join(label for label, _ in checks) or "always"
                return Decision(rule.tier, "rules", f"{rule.name} ({why})")
        return None
