"""LLM-as-router: a small model reads the (truncated) request and names a tier.

The router model gets a short instruction and the last user turn cut to
`max_chars`, and must answer `{"tier": "weak"|"strong"}` (asked as a JSON
schema where the protocol enforces one). A timeout, an error or an answer out
of that schema yields `fallback_tier`, so a broken router model degrades to a
fixed choice instead of failing the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from fleetcost.routing.base import Decision, RouteInput
from fleetcost.routing.config import LLMRouterConfig

Ask = Callable[[RouteInput, str, str, dict[str, Any]], Awaitable[str]]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"tier": {"type": "string", "enum": ["weak", "strong"]}},
    "required": ["tier"],
    "additionalProperties": False,
}
INSTRUCTION = (
    "You route requests to language models. Answer `weak` when a small, cheap model "
    "will answer this request well (simple facts, formatting, short extraction, "
    "chit-chat), `strong` when it needs careful reasoning, long multi-step work, "
    "code or expert knowledge. Reply with JSON {\"tier\": \"weak\"} or "
    "{\"tier\": \"strong\"} only.\n\nRequest:\n"
)


def router_prompt(text: str, max_chars: int) -> str:
    if len(text) > max_chars:
        text = text[: max_chars // 2] + "\n[...]\n" + text[-max_chars // 2 :]
    return INSTRUCTION + text


def parse_tier(answer: str) -> str | None:
    """The tier in a router answer, or None when it is out of schema."""
    text = answer.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    tier = data.get("tier") if isinstance(data, dict) else None
    return tier if tier in ("weak", "strong") else None


class LLMRouterPolicy:
    name = "llm"

    def __init__(self, cfg: LLMRouterConfig, ask: Ask) -> None:
        self._cfg = cfg
        self._ask = ask

    async def decide(self, request: RouteInput) -> Decision:
        cfg = self._cfg
        prompt = router_prompt(request.text, cfg.max_chars)
        try:
            answer = await asyncio.wait_for(self._ask(request, cfg.model, prompt, SCHEMA),
                                            cfg.timeout_s)
        except TimeoutError:
            return Decision(cfg.fallback_tier, "llm", f"{cfg.model} timed out: fallback")
        except Exception as exc:  # any failure of the helper call degrades, never fails
            return Decision(cfg.fallback_tier, "llm",
                            f"{cfg.model} failed ({type(exc).__name__}): fallback")
        tier = parse_tier(answer)
        if tier is None:
            return Decision(cfg.fallback_tier, "llm", f"{cfg.model} out of schema: fallback")
        return Decision(tier, "llm", f"{cfg.model} chose {tier}")  # type: ignore[arg-type]


def parse_verdict(answer: str) -> bool | None:
    """A verifier's `{"verdict": "accept"|"escalate"}`; None when out of schema."""
    try:
        data = orjson.loads(answer.strip().removeprefix("```json").removesuffix("```"))
    except orjson.JSONDecodeError:
        return None
    verdict = data.get("verdict") if isinstance(data, dict) else None
    return {"accept": True, "escalate": False}.get(verdict) if isinstance(verdict, str) else None
