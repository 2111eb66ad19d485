"""A scripted runaway agent, to show the guards stopping one.

The agent starts from a real tau-bench conversation (its airline policy and
the customer's first message) and then gets stuck: it looks up the same
reservation again and again, each time reading the same "not found", as
agents do when a tool error does not change their plan. It sends each turn
through the gateway like any agent and stops only when the gateway refuses
(429 `loop_detected`), or after `MAX_STEPS` if nothing stops it. What the loop
cost until the stop is read back from the ledger, by its session id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from fleetcost.fleet import ledger
from fleetcost.fleet.driver import CALL_TIMEOUT_S, DEMO_API_KEY
from fleetcost.fleet.plan import TENANT
from fleetcost.fleet.trajectories import Conversation
from fleetcost.fleet.wire import WIRES

AGENT = "stuck-agent"
SESSION = "runaway/stuck-agent-1"
MODEL = "gpt-4o-mini"
MAX_STEPS = 40
TOOL = "get_reservation_details"
ARGUMENTS = '{"reservation_id": "ZZZ999"}'


@dataclass(slots=True)
class RunawayResult:
    sent: int = 0
    answered: int = 0
    stopped_at: int | None = None  # 1-based call number the gateway refused
    refusal: str | None = None
    rows: list[ledger.Row] = field(default_factory=list)

    @property
    def cost(self) -> Decimal:
        return sum((Decimal(r["cost_usd"] or "0") for r in self.rows), Decimal(0))

    def as_json(self) -> dict[str, Any]:
        return {"agent": AGENT, "session_id": SESSION, "calls_sent": self.sent,
                "answered": self.answered, "stopped_at_call": self.stopped_at,
                "refusal": self.refusal, "ledger_rows": len(self.rows),
                "ledger_outcomes": sorted({r["outcome"] for r in self.rows}),
                "cost_usd_until_stop": f"{self.cost:f}"}


def _opening(conversation: Conversation) -> list[dict[str, Any]]:
    """The policy and the customer's first message, as recorded."""
    out: list[dict[str, Any]] = []
    for message in conversation.messages:
        if message.get("role") in ("system", "user"):
            out.append({"role": message["role"], "content": message.get("content") or ""})
        if message.get("role") == "user":
            break
    return out


def _loop_turn(messages: list[dict[str, Any]], step: int) -> None:
    call_id = f"call_stuck_{step}"
    messages.append({"role": "assistant", "content": None, "tool_calls": [{
        "id": call_id, "type": "function", "function": {"name": TOOL, "arguments": ARGUMENTS}}]})
    messages.append({"role": "tool", "tool_call_id": call_id,
                     "content": "Error: reservation ZZZ999 not found"})


async def run(base_url: str, conversation: Conversation) -> RunawayResult:
    wire = WIRES["openai"]
    headers = {"Content-Type": "application/json", **wire.auth(DEMO_API_KEY),
               "X-Fleetcost-Tenant": TENANT, "X-Fleetcost-Agent": AGENT,
               "X-Fleetcost-Session": SESSION, "X-Fleetcost-Task": "runaway",
               "X-Fleetcost-Cache": "off"}
    messages = _opening(conversation)
    result = RunawayResult()
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
    async with aiohttp.ClientSession(base_url, timeout=timeout) as http:
        for step in range(MAX_STEPS):
            body = orjson.dumps(wire.build(MODEL, messages, stream=False))
            result.sent += 1
            async with http.post(wire.path, data=body, headers=headers) as resp:
                payload = await resp.read()
            if resp.status == 429:
                result.stopped_at = step + 1
                error = orjson.loads(payload).get("error", {})
                result.refusal = f"{error.get('type')}: {error.get('message')}"
                break
            result.answered += resp.status == 200
            _loop_turn(messages, step)
    return result


def render(result: RunawayResult) -> str:
    lines = [f"{AGENT} looked up reservation ZZZ999 with {TOOL} on every turn."]
    if result.stopped_at is None:
        lines.append(f"Nothing stopped it: {result.sent} calls, ${result.cost:f} in the ledger.")
        return "\n".join(lines)
    lines.append(f"The gateway stopped it at call {result.stopped_at} "
                 f"({result.refusal}).")
    outcomes = ", ".join(f"{sum(r['outcome'] == o for r in result.rows)} {o}"
                         for o in sorted({r["outcome"] for r in result.rows}))
    lines.append(f"Ledger for session {SESSION}: {len(result.rows)} rows ({outcomes}); "
                 f"cost until the stop ${result.cost:f}. Without the guard it would have "
                 f"gone on for up to {MAX_STEPS} calls, each dearer than the last.")
    return "\n".join(lines)
