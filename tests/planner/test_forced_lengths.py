"""The emulator's recorded-length table (`POST /emulator/lengths`), over real HTTP."""

from __future__ import annotations

import httpx
import openai

from fleetcost.emulator.lengths import prompt_key
from tests.procs import fleetcost_process, free_port


def test_recorded_length_is_honoured_and_bad_tables_rejected() -> None:
    port = free_port()
    forced = [{"role": "user", "content": "Tell me about the baggage policy."}]
    free = [{"role": "user", "content": "Tell me about the meal policy."}]
    with fleetcost_process(["emulate", "--port", str(port), "--latency", "zero"], port) as url:
        r = httpx.post(url + "/emulator/lengths",
                       json={"lengths": {prompt_key({"messages": forced}): 137}})
        assert r.status_code == 200 and r.json() == {"lengths": 1}
        with openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0) as client:
            for model in ("gpt-4o", "gpt-4o-mini"):  # the key ignores the model
                done = client.chat.completions.create(model=model, messages=forced)
                assert done.usage is not None and done.usage.completion_tokens == 137
                assert done.choices[0].message.content
            other = client.chat.completions.create(model="gpt-4o", messages=free)
            assert other.usage is not None and other.usage.completion_tokens != 137
        bad = httpx.post(url + "/emulator/lengths", json={"lengths": {"k": 0}})
        assert bad.status_code == 400 and "lengths" in bad.text
