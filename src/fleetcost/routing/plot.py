"""Draw an `eval router` report: quality against cost per query, one line per policy.

Cost (not strong share) on the x axis, because a cascade and a router with the
same share of strong calls do not cost the same. matplotlib is imported only
here, with the Agg backend (no display on a server), and only when asked for.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from fleetcost.errors import FleetcostError

STYLE = {"random": ("grey", "--"), "oracle": ("black", ":")}


def plot(report: dict[str, Any], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise FleetcostError(
            "--plot needs matplotlib: pip install 'fleetcost[plot]'", param="plot") from None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, policy in report["policies"].items():
        xs = [float(Decimal(p["cost_per_query"])) * 1000 for p in policy["curve"]]
        ys = [p["quality"] for p in policy["curve"]]
        color, line = STYLE.get(name, (None, "-"))
        label = f"{name} (APGR {policy['apgr']:.2f})"
        ax.plot(xs, ys, line, color=color, label=label, linewidth=1.6)
    goal = 0.95 * report["strong_quality"]
    ax.axhline(goal, color="tab:red", linewidth=0.8, alpha=0.6, label="95% of strong quality")
    ax.set_xlabel("cost per 1,000 queries (USD)")
    ax.set_ylabel("quality")
    rows = report["rows"]
    ax.set_title(f"{report['benchmark']}: {report['weak_model']} -> {report['strong_model']}"
                 f" (test {rows['test']} rows)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(out)
    except OSError as exc:
        raise FleetcostError(f"cannot write the plot to {out}: {exc}", param="plot") from None
    finally:
        plt.close(fig)
