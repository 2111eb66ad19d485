"""Cascade gates: accept the cheap model's answer, or escalate to the strong one.

Each gate reads the buffered cheap answer (nothing has reached the client
yet) and returns a verdict with a short reason for the ledger:

- format: the answer is non-empty (or a tool call) and, when the request set
  `response_format`, is JSON of that shape (type, required keys, enums);
- confidence: the answer states a confidence (`confidence: 0.8`, `80%`) of at
  least `min_confidence`;
- logprobs: the mean token log-probability is at least `min_mean_logprob`;
- agreement: a second cheap sample says the same thing (word overlap, or the
  same final number for numeric answers);
- verifier: a model judges the answer and says accept or escalate.

A gate without its signal (no logprobs from this provider, no stated
confidence, a verifier that failed) follows `missing_signal`. The first gate
that rejects decides, so cheap checks belong first in `gates`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from fleetcost.providers.base import Answer
from fleetcost.routing.config import CascadeConfig
from fleetcost.routing.similarity import similarity

_CONFIDENCE = re.compile(
    r"confiden(?:ce|t)[\"'\s:=]*(?:of\s+)?(\d{1,3}(?:\.\d+)?)\s*(%)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    accept: bool
    reason: str


@dataclass(slots=True)
class GateInput:
    """The cheap answer plus what the async gates need to get more evidence."""

    answer: Answer
    response_format: dict[str, Any] | None
    tool_required: bool
    second_sample: Callable[[], Awaitable[Answer | None]]
    verify: Callable[[Answer], Awaitable[bool | None]]


def _missing(cfg: CascadeConfig, what: str) -> Verdict:
    return Verdict(cfg.missing_signal == "accept", f"no {what}: {cfg.missing_signal}")


def format_gate(inp: GateInput) -> Verdict:
    ans = inp.answer
    if inp.tool_required and not ans.tool_call:
        return Verdict(False, "format: tool call required, none made")
    if not ans.text.strip() and not ans.tool_call:
        return Verdict(False, "format: empty answer")
    fmt = inp.response_format
    if not fmt or fmt.get("type") not in ("json_object", "json_schema"):
        return Verdict(True, "format ok")
    try:
        value = orjson.loads(ans.text)
    except orjson.JSONDecodeError:
        return Verdict(False, "format: answer is not JSON")
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    problem = schema_problem(value, schema if isinstance(schema, dict) else {"type": "object"})
    return Verdict(problem is None, f"format: {problem}" if problem else "format ok")


_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "boolean": bool,
    "integer": int, "number": (int, float), "null": type(None),
}


def schema_problem(value: Any, schema: dict[str, Any], path: str = "$") -> str | None:
    """The first way `value` breaks the JSON Schema subset structured outputs use."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if kinds and not any(_is(value, k) for k in kinds):
        return f"{path} is not {'/'.join(kinds)}"
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        return f"{path} not in enum"
    if isinstance(value, dict):
        for key in schema.get("required") or ():
            if key not in value:
                return f"{path}.{key} missing"
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key in value and isinstance(sub, dict):
                problem = schema_problem(value[key], sub, f"{path}.{key}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = schema_problem(item, schema["items"], f"{path}[{i}]")
            if problem:
                return problem
    return None


def _is(value: Any, kind: str) -> bool:
    expected = _TYPES.get(kind)
    if expected is None:
        return True
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, expected)


def confidence_gate(inp: GateInput, cfg: CascadeConfig) -> Verdict:
    found = _CONFIDENCE.findall(inp.answer.text)
    if not found:
        return _missing(cfg, "stated confidence")
    number, percent = found[-1]
    value = float(number) / (100 if percent or float(number) > 1 else 1)
    ok = value >= cfg.min_confidence
    return Verdict(ok, f"confidence {value:.2f} {'>=' if ok else '<'} {cfg.min_confidence}")


def logprob_gate(inp: GateInput, cfg: CascadeConfig) -> Verdict:
    values = inp.answer.logprobs
    if not values:
        return _missing(cfg, "logprobs")
    mean = sum(values) / len(values)
    ok = mean >= cfg.min_mean_logprob
    return Verdict(ok, f"logprob mean {mean:.3f} {'>=' if ok else '<'} {cfg.min_mean_logprob}")


async def agreement_gate(inp: GateInput, cfg: CascadeConfig) -> Verdict:
    other = await inp.second_sample()
    if other is None:
        return _missing(cfg, "second sample")
    score = similarity(inp.answer.text, other.text)
    ok = score >= cfg.min_agreement
    return Verdict(ok, f"agreement {score:.2f} {'>=' if ok else '<'} {cfg.min_agreement}")


async def verifier_gate(inp: GateInput, cfg: CascadeConfig) -> Verdict:
    verdict = await inp.verify(inp.answer)
    if verdict is None:
        return _missing(cfg, "verifier verdict")
    return Verdict(verdict, "verifier accepts" if verdict else "verifier rejects")


async def run_gates(inp: GateInput, cfg: CascadeConfig) -> Verdict:
    reasons = []
    for name in cfg.gates:
        if name == "format":
            verdict = format_gate(inp)
        elif name == "confidence":
            verdict = confidence_gate(inp, cfg)
        elif name == "logprobs":
            verdict = logprob_gate(inp, cfg)
        elif name == "agreement":
            verdict = await agreement_gate(inp, cfg)
        else:
            verdict = await verifier_gate(inp, cfg)
        if not verdict.accept:
            return verdict
        reasons.append(verdict.reason)
    return Verdict(True, "; ".join(reasons) or "no gates")
