"""Recorded traffic to replay: trajectory files or the ledger's stored bodies.

Every source becomes the same list of `Recorded` calls in arrival order: the
path and body the agent sent, the attribution headers it carried (session,
task, agent) and, where the recording has it, how many tokens the answer
had. Trajectories are agent conversations in OpenAI message format
(tau-bench's `traj` lists, or plain message lists, one conversation per list
or JSON line); each assistant turn was one call whose prompt was everything
before it. The ledger source needs `[ledger] store_bodies = true` on the
gateway that recorded it: only then are request bodies kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from fleetcost.errors import ConfigError
from fleetcost.fleet.wire import WIRES, call_prefixes
from fleetcost.pricing import load_catalog
from fleetcost.types import WireKind


@dataclass(frozen=True, slots=True)
class Recorded:
    seq: int
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    wire: WireKind
    output_tokens: int | None = None  # what the recorded answer had, when known
    cost_usd: Decimal | None = None  # what the ledger billed for it, for a ledger source


def wire_of(model: str) -> WireKind:
    """The wire protocol of `model`, from the catalog's provider."""
    price = load_catalog().get(model)
    provider = price.provider if price is not None else ""
    for kind in WIRES:
        if provider == kind:
            return kind
    raise ConfigError(f"--model {model}: the catalog does not say which API serves it; "
                      "pick a model of a provider fleetcost speaks")


def load_source(source: str, model: str, limit: int | None = None) -> list[Recorded]:
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"replay source {source} does not exist")
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        calls = from_ledger(path)
    else:
        calls = from_trajectories(_conversations(path), model)
    return calls[:limit] if limit else calls


def _conversations(path: Path) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(session, task type, messages) per conversation of a JSON or JSONL file."""
    raw = path.read_bytes()
    try:
        items = ([orjson.loads(line) for line in raw.splitlines() if line.strip()]
                 if path.suffix == ".jsonl" else orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"replay source {path} is not valid JSON: {exc}") from exc
    if not isinstance(items, list):
        raise ConfigError(f"replay source {path}: expected a list of conversations")
    out = []
    for index, item in enumerate(items):
        out.append(_conversation(item, index, path))
    return out


def _conversation(item: Any, index: int, path: Path) -> tuple[str, str, list[dict[str, Any]]]:
    if isinstance(item, list):
        return f"conv{index}", "conversation", item
    if isinstance(item, dict) and isinstance(item.get("traj"), list):
        task = ((item.get("info") or {}).get("task") or {}).get("actions") or []
        kind = str(task[0].get("name")) if task and isinstance(task[0], dict) else "inquiry"
        session = f"task{item.get('task_id', index)}-trial{item.get('trial', 0)}"
        return session, kind, item["traj"]
    if isinstance(item, dict) and isinstance(item.get("messages"), list):
        return str(item.get("id", f"conv{index}")), str(item.get("task", "conversation")), \
            item["messages"]
    raise ConfigError(f"replay source {path}: conversation {index} is neither a message list, "
                      "a {{\"messages\": [...]}} object nor a tau-bench trajectory")


def from_trajectories(conversations: Sequence[tuple[str, str, list[dict[str, Any]]]],
                      model: str) -> list[Recorded]:
    wire = WIRES[wire_of(model)]
    out: list[Recorded] = []
    for session, task, messages in conversations:
        for prefix, answer in _turns(messages):
            headers = (("X-Fleetcost-Session", session), ("X-Fleetcost-Task", task),
                       ("X-Fleetcost-Agent", "replay"))
            body = orjson.dumps(wire.build(model, prefix, stream=False))
            out.append(Recorded(len(out), wire.path, body, headers, wire.kind,
                                _answer_tokens(answer, model)))
    return out


def _turns(messages: list[dict[str, Any]]) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    answers = [m for m in messages if m.get("role") == "assistant"]
    yield from zip(call_prefixes(messages), answers, strict=True)


def _answer_tokens(answer: dict[str, Any], model: str) -> int:
    """Tokens of the recorded answer (text and tool-call arguments)."""
    from fleetcost.pricing.tokens import count_text

    parts = [answer.get("content") or ""]
    for call in answer.get("tool_calls") or ():
        fn = call.get("function") or {}
        parts += [fn.get("name") or "", fn.get("arguments") or ""]
    return max(1, count_text("".join(p for p in parts if isinstance(p, str)), model).tokens)


def from_ledger(path: Path) -> list[Recorded]:
    """Calls whose bodies the gateway stored, oldest first."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "call_bodies" not in tables:
            raise ConfigError(f"{path} holds no request bodies; record with "
                              "[ledger] store_bodies = true to replay a ledger")
        rows = conn.execute(
            "SELECT b.wire, b.body, c.session_id, c.task_type, c.agent_id, c.tenant, "
            "c.output_tokens, c.cost_usd FROM call_bodies b JOIN calls c USING (call_id) "
            "ORDER BY c.ts, c.rowid").fetchall()
    finally:
        conn.close()
    out: list[Recorded] = []
    for wire, body, session, task, agent, tenant, out_tokens, cost in rows:
        if wire not in WIRES:
            continue
        headers = tuple((k, str(v)) for k, v in (
            ("X-Fleetcost-Session", session), ("X-Fleetcost-Task", task),
            ("X-Fleetcost-Agent", agent), ("X-Fleetcost-Tenant", tenant)) if v)
        out.append(Recorded(len(out), WIRES[wire].path, bytes(body), headers, wire,
                            out_tokens, Decimal(cost) if cost is not None else None))
    return out
