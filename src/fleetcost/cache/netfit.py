"""A one-hidden-layer network fitted with Adam in numpy (no training framework at run time).

Why numpy: the verifier ships as a ~100 KB weights file and a matrix-vector
product; a training framework would be a heavy dependency for a 25k-parameter
model that fits in seconds on the train half.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

HIDDEN = 32
EPOCHS = 8
BATCH = 256
RATE = 1e-3
DECAY = 1e-4  # L2 on the weights (not the biases)
SEED = 0


def fit(x: FloatArray, y: FloatArray, hidden: int = HIDDEN) -> dict[str, FloatArray]:
    """Weights of sigmoid(w2 . relu(W1' z + b1) + b2) for standardised z, by minibatch Adam."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = ((x - mean) / scale).astype(np.float32)
    d = z.shape[1]
    p = {"w1": rng.normal(0, (2 / d) ** 0.5, (d, hidden)).astype(np.float32),
         "b1": np.zeros(hidden, np.float32),
         "w2": rng.normal(0, (1 / hidden) ** 0.5, hidden).astype(np.float32),
         "b2": np.zeros((), np.float32)}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(len(z))
        for start in range(0, len(z), BATCH):
            b = order[start:start + BATCH]
            grads = _grads(p, z[b], y[b])
            step += 1
            for k, g in grads.items():
                m[k] = 0.9 * m[k] + 0.1 * g
                v2[k] = 0.999 * v2[k] + 0.001 * g * g
                p[k] -= RATE * (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v2[k] / (1 - 0.999 ** step))
                                                            + 1e-8)
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32), **p}


def _grads(p: dict[str, FloatArray], x: FloatArray, y: FloatArray) -> dict[str, FloatArray]:
    import numpy as np

    h = np.maximum(x @ p["w1"] + p["b1"], 0.0)
    prob = 1.0 / (1.0 + np.exp(-np.clip(h @ p["w2"] + p["b2"], -50, 50)))
    g = (prob - y) / len(y)
    gh = np.outer(g, p["w2"]) * (h > 0)
    return {"w1": x.T @ gh + DECAY * p["w1"], "b1": gh.sum(axis=0),
            "w2": h.T @ g + DECAY * p["w2"], "b2": np.asarray(g.sum(), dtype=np.float32)}
