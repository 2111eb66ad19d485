"""MiniLM as a cross-encoder: one pass over "[CLS] query [SEP] cached [SEP]" scores a pair.

Why a second model pass: two separately embedded questions meet only in one
cosine, so "Why do Russians dislike Poles?" and "Why do Poles dislike
Russians?" look alike (0.98). Read together, every token of one attends to
every token of the other, and swapped roles, a dropped qualifier or a
different county show up. The encoder is the bundled all-MiniLM-L6-v2, its
layers fine-tuned on half 0 of the Quora pairs (scripts/train_cross.py) with
a logistic head on the pooled pair encoding; only what changed ships
(verifier_cross.npz: each fine-tuned matrix as an int8 delta from the
package's weights with a scale per row, the vectors as float32), so the file
is ~1/4 of a model copy and the package's weights stay the single source.

The graph is onnx_graph.build with the merged weights and the head; it is
kept in the user cache dir keyed by the digest of both files, like the
embedding graph. One pass costs about as much as embedding the two texts
(~3-4 ms for two short questions, one thread); the verifier asks it only for
candidates that pass the cosine floor and the hard rules.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from fleetcost.cache.embed import FloatArray

MAX_PAIR_TOKENS = 256
SCALE_SUFFIX = ".scale"  # int8 delta rows: base + q * scale[:, None]


def bundled_weights() -> Path:
    return Path(str(resources.files("fleetcost.cache").joinpath("verifier_cross.npz")))


def merged_weights(base: dict[str, Any], tuned: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The package's weights with the fine-tuned tensors applied, and the head (w, b)."""
    import numpy as np

    weights = dict(base)
    for name, value in tuned.items():
        if name.endswith(SCALE_SUFFIX) or name.startswith("head."):
            continue
        if value.dtype == np.int8:
            scale = tuned[name + SCALE_SUFFIX].astype(np.float32)
            value = base[name] + value.astype(np.float32) * scale.reshape(-1, 1)
        weights[name] = value.astype(np.float32)
    head = (tuned["head.weight"].astype(np.float32).reshape(-1),
            tuned["head.bias"].astype(np.float32).reshape(-1))
    return weights, head


def quantise_delta(base: FloatArray, tuned: FloatArray) -> tuple[Any, Any]:
    """(int8 rows, float32 scale per row) for tuned - base; exact where nothing moved."""
    import numpy as np

    delta = tuned.astype(np.float32) - base.astype(np.float32)
    scale = np.abs(delta).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(delta / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()[:16]


class CrossScorer:
    """P(same question) for (query, cached) pairs, batched; thread-safe like OnnxModel."""

    def __init__(self, tuned: Path | None = None, directory: Path | None = None,
                 runtime: str | None = None) -> None:
        from fleetcost.cache import embed

        model = embed.model_dir()
        self._tokenizer = _pair_tokenizer(model)
        base_path, tuned = model / "model.safetensors", tuned or bundled_weights()
        self.runtime = embed.active_runtime(runtime)
        self._run = (_onnx_runner(base_path, tuned, directory) if self.runtime == "onnx"
                     else _numpy_runner(base_path, tuned))

    def scores(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> list[float]:
        """Probabilities in input order; pairs are length-sorted so batches pad little."""
        import numpy as np

        if not pairs:
            return []
        encodings = self._tokenizer.encode_batch([list(p) for p in pairs])
        order = sorted(range(len(pairs)), key=lambda i: len(encodings[i].ids))
        out = np.empty(len(pairs), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            ids, mask = _padded([encodings[i].ids for i in chunk])
            out[chunk] = self._run(ids, mask)
        return [float(x) for x in out]


Runner = Any  # (ids, mask) -> probabilities, float32 [batch]


def _onnx_runner(base_path: Path, tuned: Path, directory: Path | None) -> Runner:
    from fleetcost.cache import embed_onnx

    directory = directory or embed_onnx.cache_dir()
    graph_path = directory / f"cross-g{_graph_version()}-{_digest(base_path, tuned)}.onnx"
    graph: Path | bytes = graph_path
    if not graph_path.is_file():
        data = _graph_bytes(base_path, tuned)
        try:
            _write_atomic(graph_path, data)
        except OSError:  # a read-only cache dir: build in memory each start
            graph = data
    session = embed_onnx.session(graph)

    def run(ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> FloatArray:
        out: FloatArray = session.run(["probability"],
                                      {"input_ids": ids, "attention_mask": mask})[0]
        return out

    return run


def _numpy_runner(base_path: Path, tuned: Path) -> Runner:
    """The same pass in numpy (embed_numpy) where onnxruntime is absent: same scores
    to ~1e-6, about twice the time."""
    import numpy as np
    from safetensors.numpy import load_file

    from fleetcost.cache import embed_numpy

    with np.load(tuned) as npz:
        weights, (head_w, head_b) = merged_weights(load_file(str(base_path)),
                                                   {k: npz[k] for k in npz.files})
    model = embed_numpy.from_weights(weights)

    def run(ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> FloatArray:
        logit = model.forward(ids, mask) @ head_w + head_b[0]
        out: FloatArray = (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
        return out

    return run


def _graph_version() -> int:
    from fleetcost.cache.onnx_graph import GRAPH_VERSION

    return GRAPH_VERSION


def _padded(rows: list[list[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    import numpy as np

    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
    return ids, mask


def _graph_bytes(base_path: Path, tuned: Path) -> bytes:
    import numpy as np
    from safetensors.numpy import load_file

    from fleetcost.cache.onnx_graph import build

    with np.load(tuned) as npz:
        weights, head = merged_weights(load_file(str(base_path)), {k: npz[k] for k in npz.files})
    data: bytes = build(weights, head=head).SerializeToString()
    return data


def _write_atomic(target: Path, data: bytes) -> None:
    """Write under a temporary name, then rename: concurrent builders never read half a file."""
    import os
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=1)
def _pair_tokenizer(model: Path) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_PAIR_TOKENS)
    return tok


@functools.lru_cache(maxsize=1)
def shared_scorer() -> CrossScorer:
    """One scorer per process: the session holds ~90 MB of weights."""
    return CrossScorer()
