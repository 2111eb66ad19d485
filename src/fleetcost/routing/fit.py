"""L2-regularised logistic regression in numpy, and picking its strength by k-fold.

Training happens offline (`fleetcost router train`, `eval router`), never on
the request path, so numpy is imported lazily by the callers of this module
and the gateway only ever evaluates a dot product in pure Python. The data
sets are small (hundreds to a few thousand rows, about a thousand columns),
where full-batch gradient descent with Adam converges in a second and needs
no solver dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float64]

L2_GRID = (0.03, 0.01, 0.003)


@dataclass(frozen=True)
class Model:
    weights: list[float]
    bias: float
    l2: float


def sigmoid(z: float) -> float:
    import math

    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def require_numpy() -> None:
    """Training needs numpy; say how to get it instead of a bare ImportError."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        from fleetcost.errors import FleetcostError

        raise FleetcostError("training a router needs numpy: pip install "
                             "'fleetcost[routing]'") from None


def fit(x: Matrix, y: Matrix, l2: float, iters: int = 250, rate: float = 0.05) -> Model:
    """Minimise mean log-loss + l2/2 |w|^2 (the bias is not penalised)."""
    import numpy as np

    n, d = x.shape
    w = np.zeros(d + 1)
    xb = np.hstack([x, np.ones((n, 1))])
    m = np.zeros(d + 1)
    v = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for t in range(1, iters + 1):
        z = np.clip(xb @ w, -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        grad = xb.T @ (p - y) / n + penalty * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= rate * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return Model([float(a) for a in w[:-1]], float(w[-1]), l2)


def predict(model: Model, x: Matrix) -> Matrix:
    import numpy as np

    z = np.clip(x @ np.asarray(model.weights) + model.bias, -30, 30)
    out: Matrix = 1.0 / (1.0 + np.exp(-z))
    return out


def folds(n: int, k: int, seed: int) -> list[list[int]]:
    import random

    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[j::k] for j in range(k)]


def choose_l2(
    x: Matrix, y: Matrix, score: Callable[[Sequence[int], Matrix], float],
    *, seed: int, k: int = 3, grid: Sequence[float] = L2_GRID,
) -> tuple[float, float, Matrix]:
    """The L2 strength with the best mean held-out-fold `score`, that score,
    and the out-of-fold predictions at it (used to place the threshold)."""
    import numpy as np

    parts = folds(len(y), k, seed)
    best: tuple[float, float, Matrix] | None = None
    for l2 in grid:
        oof = np.zeros(len(y))
        total = 0.0
        for held in parts:
            keep = np.setdiff1d(np.arange(len(y)), held)
            model = fit(x[keep], y[keep], l2)
            oof[held] = predict(model, x[held])
            total += score(held, oof[held])
        mean = total / k
        if best is None or mean > best[1]:
            best = (l2, mean, oof)
    assert best is not None
    return best
