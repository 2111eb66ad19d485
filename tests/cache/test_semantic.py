"""The semantic cache's pure parts (scope, embedded text) and its state (real MiniLM, SQLite)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from fleetcost.cache.semcache import SemanticCache, score
from fleetcost.config import CacheConfig, SemanticCacheConfig
from fleetcost.pipeline.cache import plan
from fleetcost.pipeline.identify import identify
from fleetcost.pipeline.semantic import embed_text, model_family, plan_semantic
from fleetcost.pipeline.state import CallState
from fleetcost.providers import registry
from fleetcost.storage.base import SemanticEntry
from fleetcost.storage.semantic_sqlite import SQLiteSemanticStore

ON = SemanticCacheConfig(enabled=True, thresholds={"code": 0.97})


def _scope(body: dict[str, Any], headers: dict[str, str] | None = None,
           kind: str = "openai", cfg: SemanticCacheConfig = ON) -> tuple[str, str, float] | None:
    state = CallState(adapter=registry.get(kind), headers=headers or {})
    state.request = state.adapter.parse_request(orjson.dumps({"temperature": 0, **body}))
    identify(state)
    sp = plan_semantic(state, cfg, plan(state, CacheConfig()), "")
    return None if sp is None else (sp.scope, sp.text, sp.threshold)


def _q(text: str, **kw: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **kw}


def test_scope_ignores_the_question_and_attribution_but_nothing_else() -> None:
    base = _scope(_q("How do I reset my password?"))
    assert base is not None and base[1] == "How do I reset my password?"
    same = [_scope(_q("Completely different question")),
            _scope(_q("x"), headers={"x-fleetcost-agent": "a2", "x-fleetcost-session": "s"}),
            _scope(_q("x", model="gpt-4o-mini-2024-07-18")),
            _scope(_q("x", metadata={"note": "attribution only"}))]
    assert all(s is not None and s[0] == base[0] for s in same)
    system = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be terse."},
                                                   {"role": "user", "content": "x"}]}
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    different = [_scope(_q("x"), headers={"x-fleetcost-tenant": "t2"}), _scope(system),
                 _scope(_q("x", tools=[tool])), _scope(_q("x", model="gpt-4o")),
                 _scope(_q("x", temperature=0.2, seed=3)), _scope(_q("x", top_p=0.5)),
                 _scope(_q("x", max_tokens=7)), _scope(_q("x", stream=True)),
                 _scope(_q("x", response_format={"type": "json_object"})),
                 _scope({"model": "gpt-4o-mini", "max_tokens": 100,
                         "messages": [{"role": "user", "content": "x"}]}, kind="anthropic")]
    scopes = [s[0] for s in different if s is not None]
    assert len(scopes) == len(different) and base[0] not in scopes
    assert len(set(scopes)) == len(scopes)


def test_threshold_per_task_type() -> None:
    from fleetcost.cache.verify import default_threshold

    # unset, the floor the default verifier was tuned with: the one `eval cache` reports
    assert _scope(_q("x"))[2] == default_threshold()  # type: ignore[index]
    assert _scope(_q("x"), headers={"x-fleetcost-task": "code"})[2] == 0.97  # type: ignore[index]


def test_only_plain_user_text_is_embedded() -> None:
    cfg = SemanticCacheConfig(enabled=True)
    assert embed_text([{"role": "user", "content": [{"type": "text", "text": "a"},
                                                    {"type": "text", "text": "b"}]}], cfg) \
        == ("a\nb", 1)
    image = {"type": "image_url", "image_url": {"url": "data:x"}}
    assert embed_text([{"role": "user", "content": [image]}], cfg) is None
    assert embed_text([{"role": "tool", "content": "42", "tool_call_id": "c"}], cfg) is None
    assert embed_text([{"role": "assistant", "content": "prefill"}], cfg) is None
    assert _scope(_q("x"), cfg=SemanticCacheConfig()) is None, "disabled"


def test_context_window_is_bounded_and_older_turns_join_the_scope() -> None:
    turns = [{"role": "user", "content": "old question"},
             {"role": "assistant", "content": "old answer " * 50},
             {"role": "user", "content": "and in Paris?"}]
    window = SemanticCacheConfig(context_turns=1, context_chars=40)
    text, used = embed_text(turns, window) or ("", 0)
    assert used == 2 and text.startswith("and in Paris?\n") and len(text) <= 14 + 40
    assert embed_text(turns, SemanticCacheConfig()) == ("and in Paris?", 1)
    a = _scope({"model": "m", "messages": turns})
    b = _scope({"model": "m", "messages": [{"role": "user", "content": "other question"},
                                           *turns[1:]]})
    assert a is not None and b is not None and a[0] != b[0], "older turns are in the scope"


def test_model_family() -> None:
    assert model_family("gpt-4o-2024-08-06") == "gpt-4o"
    assert model_family("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert model_family("gpt-4o-mini") == "gpt-4o-mini"


def test_score_prefers_entries_that_keep_earning() -> None:
    def entry(created: float, hits: int, expires: float = 1e12) -> SemanticEntry:
        return SemanticEntry(entry_id="e", scope="s", tenant="t", text="q", created=created,
                             expires=expires, model="m", stream=False, cost_usd=None, hits=hits)
    now = 10_000.0
    assert score(entry(now - 5000, 0), now) < score(entry(now - 10, 0), now)
    assert score(entry(now - 10, 0), now) < score(entry(now - 10, 3), now)
    assert score(entry(now, 50, expires=now), now) < score(entry(now - 9000, 0), now)


def _cache(path: Path | str = ":memory:", capacity: int = 100) -> SemanticCache:
    return SemanticCache.open(SQLiteSemanticStore(path), capacity, time.time())


def _put(cache: SemanticCache, text: str, scope: str = "s", ttl: float = 60.0,
         tags: tuple[str, ...] = ()) -> None:
    now = time.time()
    cache.add(SemanticEntry(entry_id=text, scope=scope, tenant="t", text=text, created=now,
                            expires=now + ttl, model="m", stream=False, cost_usd="0.5",
                            tags=tags, body=text.encode()), cache.embed(text), now)


def _get(cache: SemanticCache, text: str, scope: str = "s") -> bytes | None:
    entry, _ = cache.lookup(scope, text, 0.9, time.time())
    return None if entry is None else entry.body


def test_paraphrase_hit_scoped_and_counted() -> None:
    cache = _cache()
    _put(cache, "How do I reset my password?")
    assert _get(cache, "How can I reset my password?") == b"How do I reset my password?"
    assert _get(cache, "How can I reset my password?", scope="other") is None
    assert _get(cache, "How do I delete my account?") is None
    assert cache.hits("How do I reset my password?") == 1


def test_expired_entries_are_skipped_and_dropped() -> None:
    cache = _cache()
    _put(cache, "How do I cancel my subscription?", ttl=0.05)
    time.sleep(0.1)
    assert _get(cache, "How can I cancel my subscription?") is None
    assert len(cache) == 0


def test_invalidate_by_tag() -> None:
    cache = _cache()
    _put(cache, "How do I update my billing address?", tags=("billing",))
    _put(cache, "How do I download my invoices as a PDF?")
    assert cache.invalidate("other-tenant", "billing") == 0
    assert cache.invalidate("t", "billing") == 1
    assert _get(cache, "How can I update my billing address?") is None
    assert _get(cache, "How can I download my invoices as a PDF?") is not None


def test_capacity_evicts_the_least_earning(tmp_path: Path) -> None:
    cache = _cache(tmp_path / "s.db", capacity=2)
    _put(cache, "How do I reset my password?")
    assert _get(cache, "How can I reset my password?") is not None
    _put(cache, "How do I cancel my subscription?")
    _put(cache, "How do I update my billing address?")
    assert len(cache) == 2
    assert _get(cache, "How can I cancel my subscription?") is None
    cache.close()
    reloaded = _cache(tmp_path / "s.db", capacity=2)
    assert len(reloaded) == 2, "the evicted entry left the store too"
    served = _get(reloaded, "Can you tell me how to reset my password?")
    assert served == b"How do I reset my password?"
    assert reloaded.hits("How do I reset my password?") == 2, "hit counts persist"


@pytest.mark.parametrize("capacity", [1])
def test_reload_drops_what_no_longer_fits(tmp_path: Path, capacity: int) -> None:
    cache = _cache(tmp_path / "s.db")
    _put(cache, "How do I reset my password?")
    _put(cache, "How do I export my data to CSV?")
    cache.close()
    assert len(_cache(tmp_path / "s.db", capacity=capacity)) == capacity
