"""A seeded synthetic month of fleet traffic, with incidents whose cost is known.

Why: a bill doctor is only credible if it finds causes we planted and prices
them right. The month is built from real material: every session is one of
the recorded tau-bench airline conversations (its real per-call prompt,
completion and shared-prefix token counts), and sessions arrive with the gaps
of the Azure production trace. Each half of the month replays every
conversation the same number of times, so nothing but the incidents differs
between the halves; the incidents start on day 16:

- `model_switch`: one task type moves from its small model to a frontier one;
- `prompt_growth`: one task type's system prompt grows by 40%;
- `runaway`: one session repeats its last call hundreds of times.

`truth` holds each incident's cost: the second half's spend with everything,
minus the same half with that one incident undone (same sessions, same
times), computed with the same catalog and cost function as the gateway.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from fleetcost.fleet.plan import task_type
from fleetcost.fleet.trajectories import load_conversations
from fleetcost.pricing.catalog import Catalog
from fleetcost.pricing.cost import cost
from fleetcost.pricing.tokens import count_text
from fleetcost.types import CallRecord, Usage

PER_CALL = Path("tau-bench/derived/gpt-4o-airline_per_call_tokens_o200k.csv")
ARRIVALS = Path("azure-llm-inference-trace/data/AzureLLMInferenceTrace_conv.csv")
START = datetime(2026, 10, 1, tzinfo=UTC)
HALF = timedelta(days=15)
CACHE_MIN, CACHE_STEP = 1024, 128  # OpenAI automatic prefix caching

# task type -> (agent, model in the first half)
FLEET: dict[str, tuple[str, str]] = {
    "booking": ("booking-agent", "gpt-4o"),
    "cancellation": ("cancel-agent", "gpt-4o-mini"),
    "change": ("changes-agent", "gpt-4o-mini"),
    "compensation": ("care-agent", "gpt-4o"),
    "inquiry": ("support-triage", "gpt-4o-mini"),
}


@dataclass(frozen=True)
class Incidents:
    switch_task: str = "cancellation"
    switch_to: str = "gpt-4o"
    growth_task: str = "booking"
    growth: Decimal = Decimal("0.40")
    runaway_task: str = "change"
    runaway_repeats: int = 400


@dataclass(frozen=True, slots=True)
class Step:
    prompt: int
    completion: int
    shared: int  # prompt tokens shared with the previous call of the session


@dataclass
class Month:
    records: list[CallRecord]
    truth: dict[str, Decimal] = field(default_factory=dict)  # incident -> USD


def _steps(data_dir: Path) -> dict[int, list[Step]]:
    out: dict[int, list[Step]] = defaultdict(list)
    with (data_dir / PER_CALL).open() as fh:
        for row in csv.DictReader(fh):
            out[int(row["traj_index"])].append(Step(
                int(row["prompt_tokens_est"]), int(row["completion_tokens_est"]),
                int(row["prefix_tokens_shared_with_previous_call"])))
    return out


def _gaps(data_dir: Path) -> list[float]:
    with (data_dir / ARRIVALS).open() as fh:
        times = [datetime.fromisoformat(r["TIMESTAMP"][:26]) for r in csv.DictReader(fh)]
    return [max((b - a).total_seconds(), 0.0) for a, b in itertools.pairwise(times)]


def _starts(gaps: list[float], count: int, rnd: random.Random) -> list[timedelta]:
    """`count` session starts over half a month, with the trace's distribution of gaps.

    The gaps are drawn from the trace, not taken in order: the trace is one
    hour long, and stretching its minute-scale bursts over two weeks would turn
    them into day-long droughts and floods that no fleet has.
    """
    picked = [rnd.choice(gaps) for _ in range(count)]
    scale = HALF.total_seconds() * 0.98 / (sum(picked) or 1.0)
    acc, out = 0.0, []
    for gap in picked:
        acc += gap * scale
        out.append(timedelta(seconds=acc))
    return out


@dataclass(frozen=True)
class _Session:
    sid: str
    task: str
    start: datetime
    steps: tuple[Step, ...]
    system: int
    second_half: bool


def _usage(step: Step, extra: int, first: bool) -> Usage:
    prompt = step.prompt + extra
    shared = 0 if first else min(step.shared + extra, prompt)
    cached = (shared // CACHE_STEP) * CACHE_STEP if prompt >= CACHE_MIN else 0
    return Usage(input_tokens=prompt, output_tokens=step.completion, cached_tokens=cached)


# A looping agent re-sends its context plus one more tool call and result per step.
LOOP_GROWTH = 150


def _loop(last: Step, repeats: int) -> list[Step]:
    return [Step(last.prompt + LOOP_GROWTH * (k + 1), last.completion,
                 last.prompt + LOOP_GROWTH * k) for k in range(repeats)]


def _calls(s: _Session, inc: Incidents | None, catalog: Catalog) -> list[CallRecord]:
    agent, model = FLEET[s.task]
    steps = list(s.steps)
    grown = inc is not None and s.task == inc.growth_task
    extra = int(s.system * inc.growth) if grown and inc is not None else 0
    if inc is not None and s.task == inc.switch_task:
        model = inc.switch_to
    if inc is not None and s.sid.endswith("#runaway"):
        steps += _loop(steps[-1], inc.runaway_repeats)
    price = catalog.get(model)
    system = s.system + extra
    prefix = hashlib.sha256(f"{s.task}:{system}".encode()).hexdigest()[:16]
    out = []
    for i, step in enumerate(steps):
        usage = _usage(step, extra, i == 0)
        out.append(CallRecord(
            call_id=f"{s.sid}:{i:04d}",
            ts=(s.start + timedelta(seconds=7 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            tenant="acme", agent_id=agent, session_id=s.sid, task_type=s.task,
            requested_model=model, model=model, provider="openai",
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cache_status="hit" if usage.cached_tokens else "miss",
            response_cache="bypass",
            cost_usd=cost(usage, price) if price is not None else None,
            outcome="success", prefix_hash=prefix, system_tokens=system,
        ))
    return out


def _sessions(data_dir: Path, repeats: int, seed: int) -> list[_Session]:
    rnd = random.Random(seed)
    conversations = load_conversations(data_dir)
    steps = _steps(data_dir)
    gaps = _gaps(data_dir)
    plan = [(i, c) for i, c in enumerate(conversations) if steps.get(i)] * repeats
    system = count_text(str(conversations[0].messages[0]["content"]), "gpt-4o").tokens
    sessions: list[_Session] = []
    for half in (0, 1):
        order = plan[:]
        rnd.shuffle(order)
        starts = _starts(gaps, len(order), rnd)
        for n, ((i, conv), at) in enumerate(zip(order, starts, strict=True)):
            sessions.append(_Session(
                f"h{half}-s{n:05d}", task_type(conv), START + half * HALF + at,
                tuple(steps[i]), system, half == 1))
    runaway = next(k for k, s in enumerate(sessions)
                   if s.second_half and s.task == Incidents().runaway_task)
    s = sessions[runaway]
    sessions[runaway] = _Session(s.sid + "#runaway", s.task, s.start, s.steps, s.system, True)
    return sessions


def _spend(records: list[CallRecord]) -> Decimal:
    return sum((r.cost_usd for r in records if r.cost_usd is not None), Decimal(0))


def generate(data_dir: Path, catalog: Catalog, repeats: int = 4, seed: int = 7,
             incidents: Incidents | None = None) -> Month:
    """The month's ledger rows and each incident's true cost in the second half."""
    inc = incidents or Incidents()
    sessions = _sessions(data_dir, repeats, seed)
    records: list[CallRecord] = []
    for s in sessions:
        records.extend(_calls(s, inc if s.second_half else None, catalog))
    second = [s for s in sessions if s.second_half]
    actual = _spend([r for s in second for r in _calls(s, inc, catalog)])
    undo = {
        "model_switch": Incidents(inc.switch_task, FLEET[inc.switch_task][1], inc.growth_task,
                                  inc.growth, inc.runaway_task, inc.runaway_repeats),
        "prompt_growth": Incidents(inc.switch_task, inc.switch_to, inc.growth_task, Decimal(0),
                                   inc.runaway_task, inc.runaway_repeats),
        "runaway": Incidents(inc.switch_task, inc.switch_to, inc.growth_task, inc.growth,
                             inc.runaway_task, 0),
    }
    truth = {name: actual - _spend([r for s in second for r in _calls(s, alt, catalog)])
             for name, alt in undo.items()}
    records.sort(key=lambda r: r.ts)
    return Month(records, truth)
