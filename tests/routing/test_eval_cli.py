"""`fleetcost eval router` and `fleetcost router train` end to end, through `main`."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from fleetcost.cli.main import main
from fleetcost.routing.trained import load_router
from tests.routing.fixtures import routing_csv


def _shared_data() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "routellm"
        if candidate.is_dir():
            return candidate
    return None


ROUTELLM = _shared_data()
GSM8K = None if ROUTELLM is None else ROUTELLM / "routellm/evals/gsm8k/gsm8k_responses.csv"


def _slice(tmp_path: Path, rows: int) -> Path:
    """The first `rows` real GSM8K queries, both models' answers included."""
    if GSM8K is None or not GSM8K.is_file():
        pytest.skip("shared/data/routellm not found next to the project")
    csv.field_size_limit(1 << 30)
    out = tmp_path / "gsm8k_slice.csv"
    with GSM8K.open(newline="", encoding="utf-8") as src, out.open("w", newline="") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst)
        for i, row in enumerate(reader):
            if i > rows:
                break
            writer.writerow(row)
    return out


def test_json_contract_on_a_real_slice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _slice(tmp_path, 240)
    assert main(["eval", "router", str(data), "--json", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["benchmark"] == "gsm8k_slice"
    assert report["rows"] == {"train": 120, "test": 120}
    policies = report["policies"]
    assert set(policies) == {"random", "oracle", "length", "trained",
                             "trained-per-dollar", "cascade"}
    for name, p in policies.items():
        for key in ("apgr", "cpt50", "cpt80", "cost_reduction_at_95", "curve"):
            assert key in p, (name, key)
        curve = p["curve"]
        assert curve[0]["strong_share"] == 0 and curve[-1]["strong_share"] == 1
        costs = [Decimal(point["cost_per_query"]) for point in curve]  # money as strings
        assert all(isinstance(point["cost_per_query"], str) for point in curve)
        assert costs[0] > 0
        assert policies["oracle"]["apgr"] >= p["apgr"] >= 0, name
        assert p["cpt50"] >= policies["oracle"]["cpt50"], name
    assert policies["random"]["apgr"] == 0.5
    # the cascade pays the weak call on every query, a router does not
    assert Decimal(policies["cascade"]["curve"][-1]["cost_per_query"]) > Decimal(
        policies["trained"]["curve"][-1]["cost_per_query"])


def test_one_policy_and_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _slice(tmp_path, 120)
    assert main(["eval", "router", str(data), "--policy", "length", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "random" in out and "oracle" in out and "length" in out
    assert "trained" not in out and "over 2 seeds" in out


def test_router_train_writes_a_loadable_file(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = _slice(tmp_path, 120)
    out = tmp_path / "router.json"
    assert main(["router", "train", str(data), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    router = load_router(out)
    assert summary["rows"] == 120 and router.strong_model == "gpt-4-1106-preview"
    assert 0.0 <= router.prob_weak_ok("What is 2 + 2?") <= 1.0
    assert router.route("What is 2 + 2?") in (router.weak_model, router.strong_model)


def test_errors_say_what_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = routing_csv(tmp_path / "x.csv", [(f"q{i}", i % 2 == 0, True, "a") for i in range(30)])
    assert main(["eval", "router", str(data)]) == 1
    assert "--price-as" in capsys.readouterr().err
    assert main(["eval", "router", str(data), "--train-fraction", "1.5"]) == 1
    assert "--train-fraction" in capsys.readouterr().err
    ok = ["--price-as", "small-model=gpt-4o-mini", "--price-as", "big-model=gpt-4o"]
    assert main(["eval", "router", str(data), *ok, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prices"]["big-model"] == "gpt-4o"


def test_plot_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="the `plot` extra is not installed")
    data = _slice(tmp_path, 120)
    out = tmp_path / "curves.png"
    assert main(["eval", "router", str(data), "--policy", "length", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
