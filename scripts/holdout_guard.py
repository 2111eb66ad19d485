"""Drop written training rows that come near a held-out probe: `python scripts/holdout_guard.py`.

Why: the restatement files are written by hand, by several writers, and
writers reach for the same common questions ("What is the capital of
Australia?"); a probe row whose text also sits in training measures memory,
not the verifier. A training row goes when either of its texts is within
MiniLM cosine CLOSE of any text of any probe in tests/cache/data. The probes
are never edited: their earlier figures stay comparable.
tests/cache/test_probe_holdout.py fails when a training row comes back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRAINING = sorted((ROOT / "scripts" / "data").glob("restatements_train_*.jsonl"))
PROBES = sorted((ROOT / "tests" / "cache" / "data").glob("*.jsonl"))
CLOSE = 0.9


def texts(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["text_a"], r["text_b"]) for r in rows]


def too_close(training: list[tuple[str, str]], probe_texts: list[str]) -> list[bool]:
    """Per training row: whether either text is within CLOSE of a probe text."""
    from fleetcost.cache.embed import embed

    probe = embed(probe_texts)
    a = embed([x for x, _ in training]) @ probe.T
    b = embed([y for _, y in training]) @ probe.T
    return [bool(m >= CLOSE) for m in np.maximum(a.max(axis=1), b.max(axis=1))]


def main() -> None:
    probe_texts = sorted({t for p in PROBES for pair in texts(p) for t in pair})
    for path in TRAINING:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        close = too_close(texts(path), probe_texts)
        kept = [line for line, c in zip(lines, close, strict=True) if not c]
        path.write_text("".join(line + "\n" for line in kept))
        print(f"{path.name}: dropped {len(lines) - len(kept)} of {len(lines)}", file=sys.stderr)


if __name__ == "__main__":
    main()
