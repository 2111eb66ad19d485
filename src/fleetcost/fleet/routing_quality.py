"""What the demo's routing lever costs in quality, according to real evaluation data.

The demo's fleet replays recorded conversations, so the answers it gets back
say nothing about whether a cheaper model would have been good enough. The
routellm GSM8K set does: per question, whether a strong and a weak model got it
right. The demo routes by prompt length, so this module reads the held-out
curve of the same length rule on that set (`fleetcost eval router`) at the
share of calls the demo actually left on the strong model (from the ledger),
and states the accuracy that share keeps.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GSM8K = Path("routellm/routellm/evals/gsm8k/gsm8k_responses.csv")


@dataclass(frozen=True, slots=True)
class RoutingQuality:
    strong_share: float  # of the demo's routing calls, answered by the model asked for
    quality: float  # held-out GSM8K accuracy of the length rule at that share
    weak_quality: float
    strong_quality: float

    @property
    def kept(self) -> float:
        """Share of the strong model's accuracy kept."""
        return self.quality / self.strong_quality

    def line(self) -> str:
        return (f"routing quality (routellm GSM8K, held-out half, the same length rule): with "
                f"{self.strong_share:.0%} of calls left on the strong model, accuracy "
                f"{self.quality:.3f} against {self.strong_quality:.3f} all-strong and "
                f"{self.weak_quality:.3f} all-weak ({self.kept:.1%} of the strong model's)")

    def as_json(self) -> dict[str, Any]:
        return {"benchmark": "gsm8k", "policy": "length", "strong_share": self.strong_share,
                "quality": self.quality, "weak_quality": self.weak_quality,
                "strong_quality": self.strong_quality, "kept": round(self.kept, 4)}


def strong_share(rows: Sequence[Mapping[str, Any]],
                 routable: Callable[[str], bool] = lambda model: True) -> float:
    """Calls answered by the model the agent asked for, among the routing scenario's calls
    that could have gone to a cheaper model (`routable`: not already a small one)."""
    considered = [r for r in rows if routable(str(r.get("requested_model") or ""))]
    if not considered:
        return 1.0
    kept = sum(1 for r in considered if r.get("model") == r.get("requested_model"))
    return kept / len(considered)


def _at(curve: Sequence[Mapping[str, Any]], share: float) -> float:
    """Quality at `share` on a curve sorted by strong share (linear between points)."""
    points = [(float(p["strong_share"]), float(p["quality"])) for p in curve]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= share <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (share - x0) / (x1 - x0)
    return points[-1][1] if share >= points[-1][0] else points[0][1]


def _cheaper_siblings() -> dict[str, str]:
    """The routing defaults' strong -> weak pairs: only those models can be routed down."""
    import tomllib
    from importlib import resources

    text = resources.files("fleetcost.routing").joinpath("defaults.toml").read_text()
    return dict(tomllib.loads(text)["cheaper"])


def routing_quality(data_dir: Path, rows: Sequence[Mapping[str, Any]]) -> RoutingQuality | None:
    """None when the evaluation data is not there (the demo still runs)."""
    path = data_dir / GSM8K
    if not path.is_file():
        return None
    from fleetcost.pricing.catalog import load_catalog
    from fleetcost.routing import data
    from fleetcost.routing.evaluate import Settings, evaluate

    result = evaluate(data.load(path), Settings(policies=("length",)), load_catalog())
    cheaper = _cheaper_siblings()
    share = strong_share(rows, lambda model: model in cheaper)
    return RoutingQuality(share, round(_at(result["policies"]["length"]["curve"], share), 4),
                          result["weak_quality"], result["strong_quality"])
