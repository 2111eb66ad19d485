"""MiniLM embedding runtimes, numpy against onnxruntime: `python -m bench.embed_bench`.

What the semantic cache pays per lookup before the index is even asked
(issue 3: lookup p50 <= 10 ms at 100k entries, embedding included), and what
each runtime costs to load and to keep in memory. In one run:

* `single`: one text per call through `embed_one`, as a lookup does, for short
  Quora questions (10-14 tokens) and long texts (~100 tokens, consecutive
  questions joined); the two runtimes alternate call by call so a busy
  neighbour slows both alike. Wall and CPU time per call (the machine has two
  shared cores: CPU is the work, wall adds the wait for a core).
* `batch`: Quora questions as they come, `embed` in batches of 32: texts/s.
* `load` and `rss`: each runtime loaded in a fresh process: numpy; onnx with
  an empty graph cache (builds the graph); onnx again (reads the cached file).
  RSS after the imports, after the load, and after 64 queries plus a batch.
* `installed_mb`: the size on disk of each runtime's packages.

Results print as JSON and go to `bench/results/embed-<UTC>.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the gateway runs it

from bench.procs import machine
from bench.stats import summarize

RESULTS = Path(__file__).resolve().parent / "results"
_PAIRS = Path("shared") / "data" / "gptcache" / "derived" / "qqp_pairs_labeled.jsonl.gz"
RUNTIMES = ("numpy", "onnx")
PACKAGES = {"numpy": ("numpy", "tokenizers", "safetensors"),
            "onnx": ("numpy", "tokenizers", "safetensors", "onnxruntime", "onnx", "ml_dtypes",
                     "flatbuffers", "protobuf")}


def _questions() -> list[str]:
    path = next((p / _PAIRS for p in Path(__file__).resolve().parents if (p / _PAIRS).is_file()),
                None)
    if path is None:
        raise SystemExit(f"{_PAIRS} not found next to the project")
    with gzip.open(path, "rt") as f:
        return [json.loads(line)["text_a"] for line in f]


def _texts(n_short: int, n_long: int) -> tuple[list[str], list[str], list[str]]:
    """Short questions, ~100-token texts, and questions as they come (for batches)."""
    from fleetcost.cache.embed import _load

    tok = _load("numpy").tokenizer
    questions = _questions()
    count = lambda t: len(tok.encode(t).ids)  # noqa: E731
    short = [q for q in questions[::7] if 10 <= count(q) <= 14][:n_short]
    long: list[str] = []
    words: list[str] = []
    for q in questions[1::3]:
        words += q.split()
        if count(" ".join(words)) >= 100:
            long.append(" ".join(words))
            words = []
            if len(long) == n_long:
                break
    return short, long, questions[2::11][:512]


def _single(texts: list[str], order: tuple[str, ...]) -> dict[str, Any]:
    from fleetcost.cache.embed import embed_one

    wall: dict[str, list[float]] = {r: [] for r in order}
    cpu: dict[str, list[float]] = {r: [] for r in order}
    for i, text in enumerate(texts):
        for runtime in order if i % 2 == 0 else order[::-1]:
            w0, c0 = time.perf_counter(), time.process_time()
            embed_one(text, runtime=runtime)
            cpu[runtime].append((time.process_time() - c0) * 1000)
            wall[runtime].append((time.perf_counter() - w0) * 1000)
    return {r: {"wall_ms": summarize(wall[r]), "cpu_ms": summarize(cpu[r])} for r in order}


def _batch(texts: list[str], runtime: str) -> dict[str, float]:
    from fleetcost.cache.embed import embed

    w0, c0 = time.perf_counter(), time.process_time()
    embed(texts, runtime=runtime)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"texts": len(texts), "per_s_wall": round(len(texts) / wall, 1),
            "per_s_cpu": round(len(texts) / cpu, 1)}


def _installed_mb(names: tuple[str, ...]) -> float:
    from importlib.metadata import PackageNotFoundError, distribution

    total = 0
    for name in names:
        try:
            files = distribution(name).files or []
        except PackageNotFoundError:
            continue
        total += sum(p.stat().st_size for f in files if (p := Path(str(f.locate()))).is_file())
    return round(total / 1e6, 1)


def child(runtime: str) -> dict[str, Any]:
    """In a fresh process: load time and RSS at each step (printed as JSON)."""
    import numpy  # noqa: F401  (both runtimes need it: the baseline)
    import psutil
    import tokenizers  # noqa: F401

    from fleetcost.cache.embed import _load, embed, embed_one

    proc = psutil.Process()
    mb = lambda: round(proc.memory_info().rss / 1e6, 1)  # noqa: E731
    out: dict[str, Any] = {"rss_imports_mb": mb()}
    w0, c0 = time.perf_counter(), time.process_time()
    _load(runtime)
    out["load_wall_s"] = round(time.perf_counter() - w0, 3)
    out["load_cpu_s"] = round(time.process_time() - c0, 3)
    out["rss_loaded_mb"] = mb()
    for i in range(64):
        embed_one(f"How do I learn to cook dish number {i} well?", runtime=runtime)
    embed([f"question {i} about a topic that needs a longer text" for i in range(64)],
          runtime=runtime)
    out["rss_after_queries_mb"] = mb()
    return out


def _children(cache: Path) -> dict[str, Any]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out: dict[str, Any] = {}
    for label, runtime in (("numpy", "numpy"), ("onnx_build", "onnx"), ("onnx_cached", "onnx")):
        done = subprocess.run([sys.executable, "-m", "bench.embed_bench", "--child", runtime],
                              env=env, capture_output=True, text=True, check=True, timeout=600)
        out[label] = json.loads(done.stdout)
    return out


def run(n_short: int, n_long: int) -> dict[str, Any]:
    from fleetcost.cache.embed import _load, embed_one

    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        report["load"] = _children(Path(tmp))
    for runtime in RUNTIMES:
        _load(runtime)
    short, long, batch = _texts(n_short, n_long)
    for text in short[:20]:  # warm both
        for runtime in RUNTIMES:
            embed_one(text, runtime=runtime)
    report["single_short"] = _single(short, RUNTIMES)
    report["single_long"] = _single(long, RUNTIMES)
    report["batch"] = {r: _batch(batch, r) for r in RUNTIMES}
    report["installed_mb"] = {r: _installed_mb(PACKAGES[r]) for r in RUNTIMES}
    report["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    onnx_cpu = report["single_short"]["onnx"]["cpu_ms"]["p50"]
    report["target_short_p50_cpu_under_5ms"] = onnx_cpu < 5.0
    return report


def _summary(report: dict[str, Any]) -> str:
    lines = [f"load avg start {report['machine']['load_avg_at_start']} "
             f"end {report['load_avg_at_end']}"]

    def fmt(s: dict[str, Any]) -> str:
        return (f"wall p50 {s['wall_ms']['p50']:.2f} p99 {s['wall_ms']['p99']:.2f} ms, "
                f"cpu p50 {s['cpu_ms']['p50']:.2f} p99 {s['cpu_ms']['p99']:.2f} ms")

    for runtime in RUNTIMES:
        load = report["load"]
        lines.append(f"{runtime}: short {fmt(report['single_short'][runtime])}")
        lines.append(f"{runtime}: long  {fmt(report['single_long'][runtime])}")
        lines.append(f"{runtime}: batch {report['batch'][runtime]['per_s_wall']}/s wall, "
                     f"{report['batch'][runtime]['per_s_cpu']}/s cpu; "
                     f"installed {report['installed_mb'][runtime]} MB")
        names = ["numpy"] if runtime == "numpy" else ["onnx_build", "onnx_cached"]
        for name in names:
            lines.append(f"  load {name}: {load[name]['load_wall_s']} s wall, "
                         f"rss {load[name]['rss_loaded_mb']} -> "
                         f"{load[name]['rss_after_queries_mb']} MB")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.embed_bench", description=__doc__)
    p.add_argument("--short", type=int, default=300, help="short texts to time (default 300)")
    p.add_argument("--long", type=int, default=100, help="long texts to time (default 100)")
    p.add_argument("--child", choices=RUNTIMES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    report = run(args.short, args.long)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2)
    (RESULTS / f"embed-{stamp}.json").write_text(text + "\n")
    print(text)
    print(_summary(report), file=sys.stderr)


if __name__ == "__main__":
    main()
