"""The onnx and numpy runtimes give the same vectors; the configured one is used;
the ONNX graph file is reused for the same weights and rebuilt for new ones."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fleetcost.cache.embed import (
    MAX_TOKENS,
    RUNTIME_ENV,
    EmbeddingUnavailable,
    _load,
    embed,
    embed_one,
    model_dir,
    resolve,
)

_DATA = Path("shared") / "data" / "gptcache" / "derived" / "qqp_pairs_labeled.jsonl.gz"
QUORA = next((p / _DATA for p in Path(__file__).resolve().parents if (p / _DATA).is_file()),
             Path(__file__).resolve().parents[3] / _DATA)
ATOL = 1e-5
MIN_COSINE = 0.99999

needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnx", "onnxruntime")),
    reason="onnx/onnxruntime not installed (semantic extra)")


@pytest.fixture(scope="module")
def quora_texts() -> list[str]:
    """Every 601st question of the labelled pairs (short and long, as they come), plus
    one text far over 256 tokens made of many questions, so truncation is exercised."""
    if not QUORA.is_file():
        pytest.skip(f"shared data absent: {QUORA}")
    with gzip.open(QUORA, "rt") as f:
        rows = [json.loads(line) for line in f]
    texts = [r["text_a"] for r in rows[::601]] + [r["text_b"] for r in rows[50::1201]]
    texts.append(" ".join(r["text_b"] for r in rows[:80]))
    return texts


def _assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert float(np.abs(a - b).max()) <= ATOL
    cosines = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert float(cosines.min()) >= MIN_COSINE


@needs_onnx
def test_onnx_equals_numpy_on_quora_batched(quora_texts: list[str]) -> None:
    tokens = [len(_load("numpy").tokenizer.encode(t).ids) for t in quora_texts]
    assert min(tokens) < 12 and max(tokens) == MAX_TOKENS  # short ones and a truncated one
    _assert_same(embed(quora_texts, runtime="onnx"), embed(quora_texts, runtime="numpy"))


@needs_onnx
def test_onnx_equals_numpy_one_at_a_time(quora_texts: list[str]) -> None:
    sample = [*quora_texts[:: len(quora_texts) // 12], quora_texts[-1]]
    onnx_single = np.stack([embed_one(t, runtime="onnx") for t in sample])
    numpy_single = np.stack([embed_one(t, runtime="numpy") for t in sample])
    _assert_same(onnx_single, numpy_single)
    # a text padded in a batch gets the vector it gets alone
    _assert_same(onnx_single, embed(sample, runtime="onnx", batch_size=64))


@needs_onnx
def test_onnx_matches_sentence_transformers_reference() -> None:
    expected = np.array([-0.03447727, 0.03102317, 0.00673494, 0.02610891, -0.03936201])
    np.testing.assert_allclose(embed_one("Hello world", runtime="onnx")[:5], expected,
                               atol=1e-6)


@needs_onnx
def test_auto_prefers_onnx_and_environment_selects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    assert resolve() == "onnx"
    assert resolve("numpy") == "numpy"
    monkeypatch.setenv(RUNTIME_ENV, "numpy")
    assert resolve() == "numpy"
    assert _load().runtime == "numpy"
    assert resolve("onnx") == "onnx"  # an explicit argument wins over the environment
    with pytest.raises(EmbeddingUnavailable, match="expected one of"):
        resolve("torch")


def _gateway_config(tmp_path: Path, runtime: str) -> Path:
    path = tmp_path / f"{runtime}.toml"
    path.write_text(textwrap.dedent(f"""
        [storage]
        kind = "memory"
        [cache.semantic]
        enabled = true
        embedding_runtime = "{runtime}"
    """))
    return path


# Opens the semantic cache the way the gateway does at start, from a config
# file, and says which runtime it got. With "absent", onnxruntime is not
# installed in that process (None in sys.modules is how Python marks a module
# unimportable).
_OPEN = textwrap.dedent("""
    import sys
    if sys.argv[2] == "absent":
        sys.modules["onnxruntime"] = None
    from fleetcost.cache.embed import _load
    from fleetcost.config import load_settings
    from fleetcost.errors import ConfigError
    from fleetcost.server.app import open_semantic
    try:
        open_semantic(load_settings(sys.argv[1]))
    except ConfigError as exc:
        print("ConfigError:", exc)
    else:
        print("runtime:", _load().runtime)
""")


def _open(config: Path, onnxruntime: str, pythonpath: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != RUNTIME_ENV}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *sys.path])
    done = subprocess.run([sys.executable, "-c", _OPEN, str(config), onnxruntime], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_forced_onnx_without_onnxruntime_refuses_with_the_fix(tmp_path: Path) -> None:
    out = _open(_gateway_config(tmp_path, "onnx"), "absent")
    assert out.startswith("ConfigError: [cache.semantic] enabled = true")
    assert "onnxruntime" in out and "pip install 'fleetcost[semantic]'" in out
    assert 'embedding_runtime = "numpy"' in out


def test_auto_without_onnxruntime_falls_back_to_numpy(tmp_path: Path) -> None:
    assert _open(_gateway_config(tmp_path, "auto"), "absent") == "runtime: numpy"


@needs_onnx
def test_auto_survives_an_onnxruntime_that_fails_to_import(tmp_path: Path) -> None:
    """Installed but broken (a wheel built for another C library): "auto" still
    serves, on numpy; "onnx" refuses to start and says why."""
    broken = tmp_path / "site" / "onnxruntime"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        'raise ImportError("libonnxruntime.so: cannot open shared object file")\n')
    site = tmp_path / "site"
    assert _open(_gateway_config(tmp_path, "auto"), "broken", site) == "runtime: numpy"
    out = _open(_gateway_config(tmp_path, "onnx"), "broken", site)
    assert out.startswith("ConfigError:") and "cannot open shared object file" in out


@needs_onnx
def test_graph_file_reused_then_rebuilt_for_new_weights(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    from fleetcost.cache.embed_onnx import OnnxModel, graph_file

    cache = tmp_path / "cache"
    weights = tmp_path / "model.safetensors"
    tensors = load_file(str(model_dir() / "model.safetensors"))
    save_file(tensors, str(weights))
    first, built = graph_file(weights, cache)
    assert built and isinstance(first, Path) and first.parent == cache
    stamp = first.stat().st_mtime_ns
    again, built = graph_file(weights, cache)
    assert (again, built) == (first, False) and first.stat().st_mtime_ns == stamp

    gamma = "encoder.layer.5.output.LayerNorm.weight"  # a fine-tune that moves the vectors
    tensors[gamma] = tensors[gamma] * np.linspace(0.5, 1.5, 384, dtype=np.float32)
    save_file(tensors, str(weights))
    changed, built = graph_file(weights, cache)
    assert built and changed != first and first.is_file()

    ids = np.array([[101, 7592, 2088, 102]], dtype=np.int64)
    mask = np.ones_like(ids)
    old = OnnxModel(first).forward(ids, mask)
    new = OnnxModel(changed).forward(ids, mask)
    assert float(np.abs(old - new).max()) > 1e-3
    assert sorted(p.suffix for p in cache.iterdir()) == [".onnx", ".onnx"]  # no partial files


@needs_onnx
def test_damaged_cached_graph_is_rebuilt(tmp_path: Path) -> None:
    from fleetcost.cache.embed_onnx import graph_path, load

    weights = model_dir() / "model.safetensors"
    cached = graph_path(weights, tmp_path)
    cached.write_bytes(b"half a graph")  # e.g. a disk that filled up mid-copy
    ids = np.array([[101, 7592, 2088, 102]], dtype=np.int64)
    vec = load(weights, tmp_path).forward(ids, np.ones_like(ids))[0]
    assert cached.stat().st_size > 80_000_000
    np.testing.assert_allclose(vec, embed_one("hello world", runtime="numpy"), atol=ATOL)
