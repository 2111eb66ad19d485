"""Cascade gates and rules on hand-made inputs (pure functions, no network)."""

from __future__ import annotations

import asyncio

from fleetcost.errors import UpstreamError
from fleetcost.pipeline.fallback import context_length_error
from fleetcost.providers.base import Answer
from fleetcost.routing.base import RouteInput
from fleetcost.routing.config import CascadeConfig, RuleConfig
from fleetcost.routing.gates import GateInput, run_gates
from fleetcost.routing.llm_router import parse_tier
from fleetcost.routing.rules import RulesPolicy
from fleetcost.routing.similarity import similarity


def verdict(answer: Answer, gates: list, fmt: dict | None = None, **cfg: object) -> bool:
    async def none() -> None:
        return None

    async def no_verdict(_: Answer) -> None:
        return None

    config = CascadeConfig(gates=gates, **cfg)  # type: ignore[arg-type]
    inp = GateInput(answer, fmt, False, none, no_verdict)
    return asyncio.run(run_gates(inp, config)).accept


def test_format_gate_checks_the_schema() -> None:
    fmt = {"type": "json_schema", "json_schema": {"schema": {
        "type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}}
    assert verdict(Answer('{"n": 3}'), ["format"], fmt)
    assert not verdict(Answer('{"n": "3"}'), ["format"], fmt)
    assert not verdict(Answer("three"), ["format"], fmt)
    assert not verdict(Answer(""), ["format"])


def test_confidence_and_logprob_gates_and_missing_signal() -> None:
    assert verdict(Answer("42. Confidence: 0.9"), ["confidence"])
    assert not verdict(Answer("42. Confidence: 40%"), ["confidence"])
    assert not verdict(Answer("42"), ["confidence"])
    assert verdict(Answer("42"), ["confidence"], missing_signal="accept")
    assert verdict(Answer("x", [-0.1, -0.3]), ["logprobs"], min_mean_logprob=-0.5)
    assert not verdict(Answer("x", [-0.9, -0.3]), ["logprobs"], min_mean_logprob=-0.5)


def test_similarity_and_router_answer_parsing() -> None:
    assert similarity("The total is 1,234.", "So we get 1234") == 1.0
    assert similarity("the cat sat", "a dog ran") == 0.0
    assert parse_tier('{"tier": "weak"}') == "weak"
    assert parse_tier('{"tier": "medium"}') is None and parse_tier("weak") is None


def test_rules_first_match_wins() -> None:
    policy = RulesPolicy([
        RuleConfig(name="big", tier="strong", min_input_tokens=100),
        RuleConfig(name="refund", tier="cascade", keywords=["refund"]),
        RuleConfig(name="rest", tier="weak"),
    ])
    small = RouteInput("auto", "t", None, "I want a refund", 20, 0, count=lambda: 5)
    big = RouteInput("auto", "t", None, "I want a refund", 900, 0, count=lambda: 300)
    assert policy.match(small).target == "cascade"  # type: ignore[union-attr]
    assert policy.match(big).target == "strong"  # type: ignore[union-attr]
    other = RouteInput("auto", "t", None, "hello", 20, 0, count=lambda: 5)
    assert policy.match(other).reason == "rules:rest (always)"  # type: ignore[union-attr]


def test_context_length_errors_are_recognised() -> None:
    openai_body = (b'{"error": {"message": "This model\'s maximum context length is 8192 tokens.'
                   b' However, your messages resulted in 9000 tokens.", "type": '
                   b'"invalid_request_error", "param": "messages", "code": '
                   b'"context_length_exceeded"}}')
    anthropic_body = (b'{"type": "error", "error": {"type": "invalid_request_error", '
                      b'"message": "prompt is too long: 210000 tokens > 200000 maximum"}}')
    assert context_length_error(UpstreamError("x", status=400, body=openai_body))
    assert context_length_error(UpstreamError("x", status=400, body=anthropic_body))
    other = b'{"error": {"message": "messages[0].role is invalid", "code": null}}'
    assert not context_length_error(UpstreamError("x", status=400, body=other))
