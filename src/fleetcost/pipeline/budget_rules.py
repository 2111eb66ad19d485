"""Which budgets a call is charged to, and in which window.

A `[[budgets]]` table becomes a `Rule`. A call matches a rule when the
rule's scope has a member for the call (its agent, team, session, task type,
tenant, or one of its tags) and `match` is that member or `"*"`; with `"*"`
every member gets its own bucket. A call is charged to every rule it
matches (nested budgets), and the tightest decides.

Windows are fixed and aligned to UTC (hour, day, month), so a window's
bucket key carries its start and its reset time is exact: the next
boundary. `session` windows are keyed by the session id and `total` never
resets. `call` windows hold no state at all: the worst case of the call
itself is compared with the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from fleetcost.config import BudgetConfig
from fleetcost.storage.base import BudgetCharge
from fleetcost.types import Identity

NANO = Decimal(1_000_000_000)


def to_nano(usd: Decimal) -> int:
    """USD -> integer nano-dollars, rounded up: a budget never under-counts spend."""
    return int((usd * NANO).to_integral_value(rounding=ROUND_CEILING))


def from_nano(nano: int) -> Decimal:
    return (Decimal(nano) / NANO).normalize() if nano else Decimal(0)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    config: BudgetConfig
    limit_nano: int | None
    limit_tokens: int | None
    soft_nano: int | None


@dataclass(frozen=True, slots=True)
class Applied:
    """One rule applied to one call: its bucket and when that bucket resets."""

    rule: Rule
    charge: BudgetCharge
    member: str
    resets_at: datetime | None

    @property
    def stored(self) -> bool:
        return self.rule.config.window != "call"


def compile_rules(budgets: Sequence[BudgetConfig]) -> tuple[Rule, ...]:
    rules, seen = [], set()
    for cfg in budgets:
        name = cfg.name or f"{cfg.scope}:{cfg.match}:{cfg.window}"
        base, n = name, 1
        while name in seen:
            n += 1
            name = f"{base}#{n}"
        seen.add(name)
        rules.append(Rule(
            name=name, config=cfg,
            limit_nano=to_nano(cfg.limit_usd) if cfg.limit_usd is not None else None,
            limit_tokens=cfg.limit_tokens,
            soft_nano=to_nano(cfg.soft_usd) if cfg.soft_usd is not None else None,
        ))
    return tuple(rules)


def merged_rules(budgets: Sequence[BudgetConfig], saved: Mapping[str, str]) -> tuple[Rule, ...]:
    """Config budgets, with those saved through the admin API replacing or joining them."""
    configs = [r.config.model_copy(update={"name": r.name}) for r in compile_rules(budgets)]
    index = {c.name: i for i, c in enumerate(configs)}
    for name, data in saved.items():
        cfg = BudgetConfig.model_validate_json(data).model_copy(update={"name": name})
        if name in index:
            configs[index[name]] = cfg
        else:
            index[name] = len(configs)
            configs.append(cfg)
    return compile_rules(configs)


def _members(scope: str, ident: Identity) -> tuple[str, ...]:
    if scope == "tag":
        return ident.tags
    value = {"tenant": ident.tenant, "team": ident.team, "agent": ident.agent_id,
             "session": ident.session_id, "task": ident.task_type}[scope]
    return (value,) if value else ()


def window_of(window: str, now: datetime, session: str | None) -> tuple[str, datetime | None]:
    """(label of the window instance, when it resets) for a window kind at `now`."""
    if window == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%dT%H"), start + timedelta(hours=1)
    if window == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%d"), start + timedelta(days=1)
    if window == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return start.strftime("%Y-%m"), nxt
    if window == "session":
        return f"session={session or '-'}", None
    return window, None  # total, call


def bucket_prefix(rule: Rule) -> str:
    return rule.name + "|"


def applicable(rules: Sequence[Rule], ident: Identity, now: datetime) -> list[Applied]:
    found = []
    for rule in rules:
        cfg = rule.config
        for member in _members(cfg.scope, ident):
            if cfg.match != "*" and cfg.match != member:
                continue
            label, resets = window_of(cfg.window, now, ident.session_id)
            key = f"{bucket_prefix(rule)}{member}|{label}"
            end = resets.timestamp() if resets is not None else None
            found.append(Applied(rule, BudgetCharge(key, rule.limit_nano, rule.limit_tokens, end),
                                 member, resets))
    return found


def _fmt(usd: Decimal) -> str:
    return f"{usd:f}"


def refusal_message(applied: Applied, asked_nano: int) -> str:
    """Names the budget, its limit, its window and when it resets (the 429 contract)."""
    rule, cfg = applied.rule, applied.rule.config
    limits = []
    if cfg.limit_usd is not None:
        limits.append(f"${_fmt(cfg.limit_usd)}")
    if cfg.limit_tokens is not None:
        limits.append(f"{cfg.limit_tokens} tokens")
    resets = ("never (total)" if cfg.window == "total"
              else "at the end of the session" if cfg.window == "session"
              else "per call" if cfg.window == "call"
              else applied.resets_at.isoformat(timespec="seconds") if applied.resets_at
              else "never")
    return (f"budget {rule.name!r} ({cfg.scope} {applied.member!r}) exceeded: limit "
            f"{' and '.join(limits)} per {cfg.window} window; this call could cost up to "
            f"${_fmt(from_nano(asked_nano))}; resets {resets}")


def now_utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
