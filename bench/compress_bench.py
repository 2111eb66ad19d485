"""Compression per policy on tau-bench: `python -m bench.compress_bench [--sessions N]`.

Replays the same sessions once per policy through gateway + emulator (prefix
caching on, response cache off) and prints input tokens and cost with and
without compression, from the gateway's ledger. Writes
`bench/results/compress-<UTC timestamp>.json` and `compress-latest.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

from fleetcost.fleet.compression import measure, render
from fleetcost.fleet.trajectories import find_data_dir, load_conversations

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    conversations = load_conversations(find_data_dir(args.data, os.environ, Path.cwd()))
    with tempfile.TemporaryDirectory(prefix="fleetcost-compress-") as tmp:
        result = measure(conversations, args.sessions, Path(tmp), concurrency=args.concurrency,
                         progress=lambda m: print(m, file=sys.stderr, flush=True))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(result, indent=2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"compress-{stamp}.json").write_text(text + "\n")
    (RESULTS / "compress-latest.json").write_text(text + "\n")
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
