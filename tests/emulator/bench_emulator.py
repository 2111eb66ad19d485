"""Requests per second of the emulator at zero latency (a measurement, not a test).

    .venv/bin/python -m tests.emulator.bench_emulator [--seconds 10] [--connections 32]

Starts `fleetcost emulate` on a free port and drives it with `wrk` (Debian
package `wrk`) with a ~4 KB non-streamed chat completion, twice: the same
body every time (a plan-cache hit, the steady state of a benchmark that
replays one request) and a distinct body per request (tokenise, plan and
generate every time). Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from tests.procs import fleetcost_process, free_port

_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "agents",
          "keep", "asking", "questions")

_SAME = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
"""
_DISTINCT = """local f = io.open("{body}", "rb")
local template = f:read("*all")
f:close()
local counter = 0
request = function()
  counter = counter + 1
  local body = string.gsub(template, "REQUEST_ID", tostring(counter))
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json"}}, body)
end
"""


def body_of_4kb() -> bytes:
    text = " ".join(_WORDS[i % len(_WORDS)] for i in range(800))
    body = {"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "REQUEST_ID " + text}]}
    data = orjson.dumps(body)
    while len(data) > 4096:
        text = text[:-16]
        body["messages"][1]["content"] = "REQUEST_ID " + text
        data = orjson.dumps(body)
    return data


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 1
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, \
            fleetcost_process(["emulate", "--port", str(port)], port) as base:
        body = Path(tmp, "body.json")
        body.write_bytes(body_of_4kb())
        for case, template in (("same-body", _SAME), ("distinct-bodies", _DISTINCT)):
            script = Path(tmp, f"{case}.lua")
            script.write_text(template.format(body=body))
            url = base + "/v1/chat/completions"
            run_wrk(url, script, 2, args.connections)  # warm-up
            rps = run_wrk(url, script, args.seconds, args.connections)
            print(json.dumps({"case": case, "body_bytes": body.stat().st_size,
                              "connections": args.connections, "requests_per_second": rps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
