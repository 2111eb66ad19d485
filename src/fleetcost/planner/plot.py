"""Drawing a swept cost surface (the `plot` extra: matplotlib, imported lazily).

Floats appear here only to place pixels; the numbers a user reads come from
the JSON or text output, which is exact.
"""

from __future__ import annotations

from fleetcost.errors import ConfigError
from fleetcost.planner.sweep import Axis, Point


def plot_surface(axes: list[Axis], points: list[Point], path: str, period: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError(
            "--plot needs matplotlib: pip install 'fleetcost[plot]'"
        ) from exc
    fig, ax = plt.subplots(figsize=(7, 5))
    if len(axes) == 1:
        ax.plot([float(v) for v in axes[0].values], [float(p.usd) for p in points], marker="o")
        ax.set_xlabel(axes[0].param)
        ax.set_ylabel(f"USD per {period}")
    else:
        xs, ys = axes[0].values, axes[1].values
        grid = [[float(points[i * len(ys) + j].usd) for i in range(len(xs))]
                for j in range(len(ys))]
        mesh = ax.pcolormesh([float(x) for x in xs], [float(y) for y in ys], grid,
                             shading="nearest")
        fig.colorbar(mesh, ax=ax, label=f"USD per {period}")
        ax.set_xlabel(axes[0].param)
        ax.set_ylabel(axes[1].param)
    ax.set_title("fleetcost: cost surface")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
