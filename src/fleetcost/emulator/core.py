"""One emulator run: its caches, counters and fault draws, built from settings.

Nothing here is module-level: two apps in one process (a test and a benchmark,
say) are two `Emulator`s that share no cache and no counter.

The cost of a request is kept low where it repeats. A request body seen
before is answered from its cached `Prepared` plan (keyed by a digest of the
raw bytes and the protocol), so the JSON is not even parsed again; a new body
that shares its history with earlier ones re-tokenises only its new messages
(`prompt.Tokens` memoises segments).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

from fleetcost.emulator.faults import FaultDraw
from fleetcost.emulator.generate import Writer
from fleetcost.emulator.lengths import ForcedLengths
from fleetcost.emulator.plan import Context, Dialect, Plan, Prepared, rng_for
from fleetcost.emulator.prefix_cache import TTLStore
from fleetcost.emulator.prompt import Tokens
from fleetcost.emulator.settings import EmulatorSettings, ModelTable
from fleetcost.emulator.stats import Stats
from fleetcost.errors import FleetcostError
from fleetcost.pricing.catalog import Catalog, load_catalog
from fleetcost.types import Usage


class Emulator:
    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        tokens = Tokens()
        self.models = ModelTable.bundled()
        self.writer = Writer(tokens, settings.output_median, settings.output_sigma,
                             settings.output_max)
        self._catalog = _catalog()
        self.context = Context(settings, tokens, self.writer, self.models, self.min_cacheable)
        self.store = TTLStore(settings.max_prefix_entries)
        self.stats = Stats()
        self.faults = FaultDraw(settings.seed, settings.faults)
        self._plans: dict[bytes, Prepared] = {}
        self._minimums: dict[str, int] = {}
        self.lengths = ForcedLengths()

    def prepare(self, dialect: Dialect, raw: bytes) -> Prepared:
        """The plan for a request body; raises `BadRequest` for an invalid one."""
        key = hashlib.blake2b(raw, digest_size=16, person=dialect.protocol.encode()).digest()
        prepared = self._plans.get(key)
        if prepared is None:
            prepared = dialect.prepare(self.context, raw)
            if len(self._plans) >= self.settings.plan_cache_size:
                del self._plans[next(iter(self._plans))]
            self._plans[key] = prepared
        if self.lengths:
            prepared = self._forced(prepared, raw)
        return prepared

    def _forced(self, prepared: Prepared, raw: bytes) -> Prepared:
        """The plan answered at the recorded length posted for its prompt, if any."""
        want = self.lengths.lookup(raw)
        if want is None:
            return prepared
        plan = prepared.plan
        output = self.writer.text(rng_for(plan.digest), max(want, self.settings.output_max),
                                  False, want=want)
        return dataclasses.replace(prepared, plan=dataclasses.replace(plan, output=output))

    def bill(self, plan: Plan) -> Usage:
        """Usage of answering `plan` now: consults and updates the prefix cache."""
        cache = plan.prefix.bill(self.store, time.monotonic())
        return Usage(
            input_tokens=plan.input_tokens,
            output_tokens=plan.output.tokens,
            cached_tokens=cache.read,
            cache_write_5m_tokens=cache.write_5m,
            cache_write_1h_tokens=cache.write_1h,
            reasoning_tokens=plan.output.reasoning_tokens,
        )

    def record(self, plan: Plan, usage: Usage, body_events_sent: int | None = None) -> None:
        """Count a served request; `body_events_sent` is set when a stream ended early."""
        if body_events_sent is not None:
            sent = self.writer.sent_tokens(plan.output, body_events_sent)
            usage = Usage(usage.input_tokens, sent, usage.cached_tokens,
                          usage.cache_write_5m_tokens, usage.cache_write_1h_tokens,
                          min(usage.reasoning_tokens, sent))
        self.stats.served(plan.model, usage)

    def min_cacheable(self, model: str) -> int:
        """Anthropic's minimum cacheable prefix: the catalog's, else models.toml's."""
        found = self._minimums.get(model)
        if found is None:
            price = self._catalog.get(model) if self._catalog is not None else None
            found = price.min_cacheable_tokens if price is not None else None
            if not found:
                found = self.models.profile(model).min_cacheable_tokens
            if len(self._minimums) >= 10_000:  # clients may send any model id
                self._minimums.clear()
            self._minimums[model] = found
        return found

    def reset(self) -> None:
        """Forget cached prefixes, counters and fault history (plans are pure; kept)."""
        self.store.clear()
        self.stats = Stats()
        self.faults.reset()


def _catalog() -> Catalog | None:
    """The price catalog if it can be read; the emulator also runs without one."""
    try:
        return load_catalog()
    except FleetcostError:
        return None

