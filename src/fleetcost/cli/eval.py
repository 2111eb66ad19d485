"""`fleetcost eval cache`: measure the semantic cache on labelled question pairs.

    fleetcost eval cache PAIRS [--json] [--threshold T] [--limit N] [--cache-pairs N]
                               [--verifier default|cross|net|linear|guard|cosine] [--no-guard]

PAIRS is JSONL (optionally .gz) of `{text_a, text_b, label}`. Embeddings are
cached under ~/.cache/fleetcost/ so re-runs skip the model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetcost.errors import BadRequest

if TYPE_CHECKING:
    from fleetcost.cache.verify import HitVerifier


def register(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description="Offline quality evaluations.")
    kinds = parser.add_subparsers(dest="eval_kind", metavar="KIND", required=True)
    cache = kinds.add_parser(
        "cache", help="semantic cache precision/recall/false hits on labelled pairs",
        description="Insert every text_a, query every text_b; sweep the cosine threshold.",
    )
    cache.add_argument("pairs", metavar="PAIRS", type=Path,
                       help="JSONL(.gz) of text_a, text_b, label")
    cache.add_argument("--json", action="store_true", help="print JSON")
    cache.add_argument("--threshold", type=float, default=None,
                       help="evaluate at this cosine instead of the configured default")
    cache.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    cache.add_argument("--cache-pairs", type=int, default=None, metavar="N",
                       help="pairs per cache, in file order (default 5000, where the "
                            "issue's raw-cosine baseline reproduces; 0: one cache of all)")
    cache.add_argument("--verifier", default="default",
                       choices=("default", "cross", "net", "linear", "guard", "cosine"),
                       help="match policy: the gateway's default (the cross-encoder "
                            "blend), that blend, the pair network alone, the 10-feature "
                            "logistic model, the rule-based detail guard, or the raw cosine")
    cache.add_argument("--no-guard", action="store_true", help="same as --verifier cosine")
    cache.add_argument("--candidates", type=int, default=None,
                       help="nearest entries the cache may try, best first "
                            "(default: as many as the gateway's semantic cache tries)")
    cache.add_argument("--index", choices=("ivf", "exact"), default=None,
                       help="vector index (default: the configured one); an approximate "
                            "index also reports how often it serves what the exact scan does")
    cache.add_argument("--target-precision", type=float, default=0.8,
                       help="precision the recommended threshold must reach (default 0.8)")
    cache.set_defaults(func=run_cache)
    from fleetcost.cli import eval_router

    eval_router.register(kinds)


def run_cache(args: argparse.Namespace) -> int:
    from fleetcost.cache.evaluate import load_pairs
    from fleetcost.cache.report import evaluate
    from fleetcost.cache.semcache import CANDIDATES
    from fleetcost.cache.semindex import index_kind
    from fleetcost.cache.vecstore import stderr_progress
    from fleetcost.config import SemanticCacheConfig

    if not args.pairs.is_file():
        raise BadRequest(f"no such file: {args.pairs}", param="PAIRS")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise BadRequest("--threshold must be between 0 and 1", param="threshold")
    if args.limit is not None and args.limit <= 0:
        raise BadRequest("--limit must be positive", param="limit")
    if args.cache_pairs is not None and args.cache_pairs < 0:
        raise BadRequest("--cache-pairs must be 0 or more", param="cache-pairs")
    if args.candidates is None:
        args.candidates = CANDIDATES
    if args.candidates <= 0:
        raise BadRequest("--candidates must be positive", param="candidates")
    pairs = load_pairs(args.pairs, args.limit)
    if not pairs:
        raise BadRequest(f"no pairs in {args.pairs}", param="PAIRS")
    kind = "cosine" if args.no_guard else args.verifier
    verifier = _verifier(kind)
    # the threshold the gateway is configured with by default, so the figures describe it
    threshold = args.threshold
    if threshold is None and kind in ("cross", "net"):
        threshold = getattr(verifier, "threshold", None)
    if threshold is None:
        threshold = SemanticCacheConfig().threshold
    if threshold is None:
        from fleetcost.cache.verify import default_threshold

        threshold = default_threshold()
    index = args.index or index_kind(SemanticCacheConfig())
    from fleetcost.cache.evaluate import DEFAULT_CACHE_PAIRS

    cache_pairs = DEFAULT_CACHE_PAIRS if args.cache_pairs is None else args.cache_pairs or None
    report = evaluate(pairs, verifier, threshold, args.target_precision, args.candidates,
                      stderr_progress("embedding"), index=index, cache_pairs=cache_pairs)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


def _verifier(kind: str) -> HitVerifier:
    from fleetcost.cache.verify import CosineVerifier, GuardVerifier, default_verifier

    if kind == "cross":
        from fleetcost.cache.crossverify import CrossVerifier

        cross = CrossVerifier()
        cross.warm()
        return cross
    if kind == "net":
        from fleetcost.cache.netverify import NetVerifier

        net = NetVerifier()
        net.warm()
        return net
    if kind == "linear":
        from fleetcost.cache.learned import LearnedVerifier

        return LearnedVerifier()
    if kind == "guard":
        return GuardVerifier()
    if kind == "cosine":
        return CosineVerifier()
    return default_verifier()


def _print_table(report: dict[str, Any]) -> None:
    out = sys.stdout
    out.write(f"{report['pairs']} pairs in caches of {report['cache_pairs']}, "
              f"verifier {report['verifier']}, "
              f"{report['runtime_s']} s, {report['verifier_ms_per_call']} ms per verdict\n")
    out.write(f"{'threshold':>9} {'hit rate':>9} {'precision':>9} {'recall':>7} "
              f"{'false hits':>10} {'of which partner/other':>22}\n")
    for row in report["thresholds"]:
        split = f"{row['false_hits_partner']}/{row['false_hits_other']}"
        out.write(f"{row['threshold']:>9.2f} {row['hit_rate']:>9.3f} {row['precision']:>9.3f} "
                  f"{row['recall']:>7.3f} {row['false_hit_rate']:>10.3%} {split:>22}\n")
    d = report["at_default"]
    out.write(f"default {d['threshold']:.2f}: precision {d['precision']:.3f}, recall "
              f"{d['recall']:.3f}, false hits {d['false_hit_rate']:.2%}\n")
    r = report["recommended"]
    held = r["held_out"]
    out.write(f"recommended for precision >= {r['target_precision']}: {r['threshold']:.2f} "
              f"(held out: precision {held['precision']:.3f}, recall {held['recall']:.3f})\n")
