"""The all-MiniLM-L6-v2 forward pass in pure numpy: the runtime that needs no
more than numpy, and the reference the ONNX graph is checked against.

Why keep it beside onnxruntime: it is the smallest install (numpy is needed
anyway), it reproduces sentence-transformers to 1e-7, and `embedding_runtime
= "numpy"` stays a fallback where onnxruntime has no wheel. About 6.9 ms per
short query against ~2.7 ms for the ONNX graph (bench/embed_bench.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from fleetcost.cache.embed import FloatArray

_LAYERS = 6
_HEADS = 12
_EPS = 1e-12


@dataclass(frozen=True)
class _Layer:
    qkv_w: FloatArray  # (384, 1152): Q, K and V fused so one matmul serves all three
    qkv_b: FloatArray
    out_w: FloatArray
    out_b: FloatArray
    ln1_g: FloatArray
    ln1_b: FloatArray
    up_w: FloatArray
    up_b: FloatArray
    down_w: FloatArray
    down_b: FloatArray
    ln2_g: FloatArray
    ln2_b: FloatArray


@dataclass(frozen=True)
class _Model:
    word: FloatArray
    position: FloatArray
    token_type: FloatArray
    ln_g: FloatArray
    ln_b: FloatArray
    layers: tuple[_Layer, ...]

    def forward(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> FloatArray:
        import numpy as np

        return _forward(self, ids, mask.astype(np.float32))


def _layer(w: dict[str, Any], i: int) -> _Layer:
    import numpy as np

    p = f"encoder.layer.{i}."
    att = p + "attention.self."
    qkv_w = np.concatenate([w[att + n + ".weight"].T for n in ("query", "key", "value")], axis=1)
    qkv_b = np.concatenate([w[att + n + ".bias"] for n in ("query", "key", "value")])
    return _Layer(
        qkv_w=np.ascontiguousarray(qkv_w), qkv_b=qkv_b,
        out_w=np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
        out_b=w[p + "attention.output.dense.bias"],
        ln1_g=w[p + "attention.output.LayerNorm.weight"],
        ln1_b=w[p + "attention.output.LayerNorm.bias"],
        up_w=np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
        up_b=w[p + "intermediate.dense.bias"],
        down_w=np.ascontiguousarray(w[p + "output.dense.weight"].T),
        down_b=w[p + "output.dense.bias"],
        ln2_g=w[p + "output.LayerNorm.weight"], ln2_b=w[p + "output.LayerNorm.bias"],
    )


def _layer_norm(x: FloatArray, g: FloatArray, b: FloatArray) -> FloatArray:
    import numpy as np

    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    out: FloatArray = (x - mean) / np.sqrt(var + _EPS) * g + b
    return out


def _gelu(x: FloatArray) -> FloatArray:
    """Exact (erf) GELU as BERT uses; erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7),
    because numpy has no erf and the tanh approximation drifts by ~1e-3."""
    import numpy as np

    z = x * np.float32(0.7071067811865476)
    s = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    erf = s * (1.0 - poly * np.exp(-a * a))
    out: FloatArray = (0.5 * x * (1.0 + erf)).astype(np.float32, copy=False)
    return out


def _block(h: FloatArray, bias: FloatArray, layer: _Layer) -> FloatArray:
    """One transformer layer; `bias` is the additive attention mask (n, 1, 1, t)."""
    import numpy as np

    n, t, d = h.shape
    hd = d // _HEADS
    qkv = (h @ layer.qkv_w + layer.qkv_b).reshape(n, t, 3, _HEADS, hd)
    q, k, v = (qkv[:, :, j].transpose(0, 2, 1, 3) for j in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(hd)) + bias
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
    h = _layer_norm(ctx @ layer.out_w + layer.out_b + h, layer.ln1_g, layer.ln1_b)
    up = _gelu(h @ layer.up_w + layer.up_b)
    return _layer_norm(up @ layer.down_w + layer.down_b + h, layer.ln2_g, layer.ln2_b)


def _forward(model: _Model, ids: npt.NDArray[np.int64], mask: FloatArray) -> FloatArray:
    """BERT encoder + mean pooling over real tokens + L2 normalisation."""
    import numpy as np

    t = ids.shape[1]
    h = model.word[ids] + model.position[:t] + model.token_type[0]
    h = _layer_norm(h, model.ln_g, model.ln_b)
    bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :].astype(np.float32)
    for layer in model.layers:
        h = _block(h, bias, layer)
    pooled = (h * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    norm = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    out: FloatArray = (pooled / norm).astype(np.float32)
    return out


def load(weights: Path) -> _Model:
    """Weights from the model's safetensors file, laid out for the forward pass
    (about 90 MB of float32)."""
    from safetensors.numpy import load_file

    return from_weights(load_file(str(weights)))


def from_weights(w: dict[str, Any]) -> _Model:
    """The model from a name -> array mapping (the package's, or with tuned layers applied)."""
    return _Model(
        word=w["embeddings.word_embeddings.weight"],
        position=w["embeddings.position_embeddings.weight"],
        token_type=w["embeddings.token_type_embeddings.weight"],
        ln_g=w["embeddings.LayerNorm.weight"], ln_b=w["embeddings.LayerNorm.bias"],
        layers=tuple(_layer(w, i) for i in range(_LAYERS)),
    )
