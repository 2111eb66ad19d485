"""Who the fleet is: agents, their models, their sessions, and the scenarios.

Conversations are dealt to agents round-robin by their position in the
selection, and each agent alternates between two models (one per provider,
as teams do while they evaluate a switch), so every agent and every model
appears in even a small demo. The task type comes from what the benchmark
task expected the agent to change (a booking, a cancellation...), so a
per-task report reads like a real one.

A scenario is one replay of the same sessions with some levers on. The
baseline turns everything off; each lever (response cache, routing,
compression) adds a scenario to `SCENARIOS` when it lands. Scenarios are told
apart in the ledger by the session id prefix `<scenario>/`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import orjson

from fleetcost.fleet.trajectories import Conversation
from fleetcost.fleet.wire import WIRES, Wire, call_prefixes
from fleetcost.types import WireKind

TENANT = "fleetcost-demo"
# Every third call of a session is streamed: agents mix both, and the gateway
# must account a stream exactly as it accounts a JSON answer.
STREAM_EVERY = 3

MODEL_WIRES: Mapping[str, WireKind] = MappingProxyType({
    "gpt-4o": "openai",
    "gpt-4o-mini": "openai",
    "claude-sonnet-4-6": "anthropic",
    "claude-haiku-4-5": "anthropic",
})


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    models: tuple[str, ...]


AGENTS: tuple[Agent, ...] = (
    Agent("support-triage", ("gpt-4o-mini", "claude-haiku-4-5")),
    Agent("booking-agent", ("gpt-4o", "claude-sonnet-4-6")),
    Agent("refund-agent", ("claude-sonnet-4-6", "gpt-4o")),
    Agent("changes-agent", ("claude-haiku-4-5", "gpt-4o-mini")),
)

# First expected action with this prefix -> task type; otherwise "inquiry".
TASK_TYPES: tuple[tuple[str, str], ...] = (
    ("book_reservation", "booking"),
    ("cancel_reservation", "cancellation"),
    ("update_reservation", "change"),
    ("send_certificate", "compensation"),
)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One replay of the fleet. `headers` go on every request of the replay."""

    name: str
    description: str
    headers: tuple[tuple[str, str], ...] = ()
    # Caching levers (fleet/levers.py): body rewrites by name, every Nth call
    # sent twice, and the (lever off, lever on) scenario pair this one reports.
    rewrites: tuple[str, ...] = ()
    repeat_every: int = 0
    lever: str | None = None
    compare: tuple[str, str] | None = None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("baseline", "every lever off", (("X-Fleetcost-Cache", "off"),)),
    Scenario("compress", "context compression on (trim, dedupe, block summaries; summary "
             "calls included)", (("X-Fleetcost-Cache", "off"), ("X-Fleetcost-Compress", "on")),
             lever="context compression", compare=("baseline", "compress")),
    Scenario("prefix-busted",
             "a timestamp at the top of the system prompt busts the provider prefix cache",
             (("X-Fleetcost-Cache", "off"),), rewrites=("timestamp",),
             lever="provider prefix cache (stable system prompt)",
             compare=("prefix-busted", "baseline")),
    Scenario("repeats", "temperature 0, every 4th call sent twice, response cache off",
             (("X-Fleetcost-Cache", "off"),), rewrites=("temperature0",), repeat_every=4),
    Scenario("response-cache", "the same calls as repeats with the exact response cache on",
             (("X-Fleetcost-Cache", "on"),), rewrites=("temperature0",), repeat_every=4,
             lever="response cache (exact)", compare=("repeats", "response-cache")),
    Scenario("routing", "prompts up to 3,000 tokens go to the model's cheaper sibling (the "
             "length rule: held-out APGR about 0.56-0.6 on routellm MMLU/GSM8K)",
             (("X-Fleetcost-Cache", "off"), ("X-Fleetcost-Route", "auto")),
             lever="routing (length rule, cheaper sibling)", compare=("baseline", "routing")),
)


@dataclass(frozen=True, slots=True)
class Call:
    """One model call: where it goes and its serialized body."""

    path: str
    body: bytes
    stream: bool


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    agent: str
    model: str
    task_type: str
    conversation: Conversation

    @property
    def wire(self) -> Wire:
        return WIRES[MODEL_WIRES[self.model]]

    @property
    def n_calls(self) -> int:
        return self.conversation.assistant_turns

    def calls(self) -> Iterator[Call]:
        """Build requests lazily: a whole fleet's bodies at once would be tens of MB."""
        wire = self.wire
        for index, prefix in enumerate(call_prefixes(self.conversation.messages)):
            stream = index % STREAM_EVERY == STREAM_EVERY - 1
            body = wire.build(self.model, prefix, stream=stream)
            yield Call(wire.path, orjson.dumps(body), stream)

    def headers(self, scenario: Scenario) -> dict[str, str]:
        return {
            "X-Fleetcost-Tenant": TENANT,
            "X-Fleetcost-Agent": self.agent,
            "X-Fleetcost-Session": self.session_id,
            "X-Fleetcost-Task": self.task_type,
            **dict(scenario.headers),
        }


def task_type(conversation: Conversation) -> str:
    for action in conversation.expected_actions:
        for prefix, kind in TASK_TYPES:
            if action.startswith(prefix):
                return kind
    return "inquiry"


def plan_sessions(
    conversations: Sequence[Conversation], count: int, scenario: Scenario
) -> list[Session]:
    """The first `count` conversations as sessions of the fleet, for one scenario."""
    sessions = []
    for index, conversation in enumerate(conversations[:count]):
        agent = AGENTS[index % len(AGENTS)]
        model = agent.models[(index // len(AGENTS)) % len(agent.models)]
        sessions.append(Session(
            session_id=f"{scenario.name}/task{conversation.task_id}-trial{conversation.trial}",
            agent=agent.name,
            model=model,
            task_type=task_type(conversation),
            conversation=conversation,
        ))
    return sessions


def scenario_of(session_id: str | None) -> str | None:
    """The scenario a ledger row belongs to, from its session id."""
    if not session_id or "/" not in session_id:
        return None
    return session_id.split("/", 1)[0]
