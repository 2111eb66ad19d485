"""Cache entries expire after their TTL (shrunk to a second by flags)."""

from __future__ import annotations

import time

import httpx

from tests.emulator.conftest import long_text, run_emulator


def test_entries_expire_and_reads_refresh(tag: str) -> None:
    flags = ("--openai-cache-ttl", "1", "--cache-ttl-5m", "1", "--cache-ttl-1h", "3")
    system = long_text(tag, 1200)
    openai_body = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": system},
                                                        {"role": "user", "content": "q"}]}

    def claude_body(ttl: str) -> dict[str, object]:
        return {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{
            "role": "user", "content": [{"type": "text", "text": system + ttl,
                                         "cache_control": {"type": "ephemeral", "ttl": ttl}}]}]}

    with run_emulator(*flags) as url, httpx.Client(base_url=url, timeout=30) as client:
        def cached() -> tuple[int, int, int]:
            oai = client.post("/v1/chat/completions", json=openai_body).json()["usage"]
            five = client.post("/v1/messages", json=claude_body("5m")).json()["usage"]
            hour = client.post("/v1/messages", json=claude_body("1h")).json()["usage"]
            return (oai["prompt_tokens_details"]["cached_tokens"],
                    five["cache_read_input_tokens"], hour["cache_read_input_tokens"])

        assert cached() == (0, 0, 0)
        warm = cached()
        assert all(warm)
        time.sleep(0.6)
        assert cached() == warm  # a read refreshes the entry
        time.sleep(1.5)
        expired = cached()
        assert expired[0] == 0 and expired[1] == 0  # 1 s TTLs ran out
        assert expired[2] == warm[2]  # the "1h" entry (3 s here) is still alive
