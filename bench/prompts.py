"""The request mix: realistic 2-8 KB OpenAI chat bodies, built deterministically.

Bodies are cut from recorded tau-bench airline conversations (a long system
policy, then user, assistant and tool turns), because a gateway's per-call
cost grows with the size and shape of what it parses; a one-line "hello"
would flatter it. Each body is cut at a point where the next turn is the
assistant's, so it is a call a real agent would make. The same seed gives the
same bodies, so runs on different days compare.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

# ../shared/data beside the checkout; FLEETCOST_SHARED_DATA for a git worktree elsewhere.
DATA = Path(os.environ.get("FLEETCOST_SHARED_DATA")
            or Path(__file__).resolve().parent.parent.parent / "shared" / "data")
TRAJECTORIES = DATA / "tau-bench" / "historical_trajectories" / "gpt-4o-airline.json"
MIN_BYTES, MAX_BYTES = 2048, 8192
MODELS = ("gpt-4o-mini", "gpt-4o")


@dataclass(frozen=True, slots=True)
class Call:
    """One request of the mix: the JSON body and whether it asks for a stream."""

    body: bytes
    stream: bool


def _cut(
    conversation: list[dict[str, Any]], target: int, model: str, system_chars: int
) -> list[dict[str, Any]]:
    """Longest prefix that ends before an assistant turn and fits `target` bytes.

    The system policy (about 6 KB) is cut to `system_chars` first, so that
    the rest of the budget goes to turns and bodies differ in shape (a long
    policy and one question, or a short one and a tool-calling exchange).
    """
    system, rest = conversation[0], conversation[1:]
    system = {"role": "system", "content": system["content"][:system_chars]}
    messages = [system]
    best = [system, rest[0]] if rest else [system]
    for i, message in enumerate(rest):
        messages.append(message)
        size = len(orjson.dumps({"model": model, "messages": messages}))
        if size > target:
            break
        nxt = rest[i + 1] if i + 1 < len(rest) else None
        if nxt is not None and nxt.get("role") == "assistant":
            best = list(messages)
    return best


def _pad(messages: list[dict[str, Any]], model: str, minimum: int) -> list[dict[str, Any]]:
    """Grow the system prompt back (it was cut first) until the body has `minimum` bytes."""
    full = messages[0]["content"]
    while len(orjson.dumps({"model": model, "messages": messages})) < minimum:
        full += "\n\nReminder: follow the policy above exactly."
        messages = [{"role": "system", "content": full}, *messages[1:]]
    return messages


def _load(path: Path) -> list[list[dict[str, Any]]]:
    if not path.is_file():
        raise FileNotFoundError(
            f"benchmark prompts come from {path}; put the shared data there "
            "(or pass --trajectories FILE)"
        )
    records = json.loads(path.read_text())
    return [r["traj"] for r in records if len(r.get("traj", ())) >= 4]


def build_mix(
    count: int = 48, stream_share: float = 0.5, seed: int = 1,
    path: Path = TRAJECTORIES,
) -> list[Call]:
    """`count` varied calls; every other one streamed when `stream_share` is 0.5.

    Streaming is assigned by position (not at random) so that any window of
    the mix has the requested share, which keeps short runs representative.
    """
    rng = random.Random(seed)
    conversations = _load(path)
    rng.shuffle(conversations)
    calls: list[Call] = []
    every = 0 if stream_share <= 0 else max(1, round(1 / stream_share))
    for i in range(count):
        conversation = conversations[i % len(conversations)]
        # Models alternate in pairs so that each model gets both kinds of call.
        model = MODELS[(i // 2) % len(MODELS)]
        target = rng.randint(MIN_BYTES + 256, MAX_BYTES - 64)
        system_chars = rng.randint(600, max(600, min(6000, target - 1200)))
        messages = _pad(_cut(conversation, target, model, system_chars), model, MIN_BYTES)
        stream = every > 0 and i % every == every - 1
        payload: dict[str, Any] = {"model": model, "messages": messages}
        if stream:
            payload["stream"] = True
        calls.append(Call(body=orjson.dumps(payload), stream=stream))
    return calls


def describe(calls: list[Call]) -> dict[str, Any]:
    """Sizes and stream share of the mix, for the results file."""
    sizes = sorted(len(c.body) for c in calls)
    return {
        "calls": len(calls),
        "streamed": sum(c.stream for c in calls),
        "body_bytes_min": sizes[0],
        "body_bytes_median": sizes[len(sizes) // 2],
        "body_bytes_max": sizes[-1],
        "source": str(TRAJECTORIES.relative_to(DATA.parent.parent))
        if TRAJECTORIES.is_relative_to(DATA.parent.parent) else str(TRAJECTORIES),
    }
