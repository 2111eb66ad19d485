from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fleetcost.cli import eval as eval_cli
from fleetcost.errors import BadRequest

_DATA = Path("shared") / "data" / "gptcache" / "derived" / "qqp_pairs_labeled.jsonl.gz"
# ../shared from the project root; a worktree sits one level deeper (wt/NAME)
REAL = next((p / _DATA for p in Path(__file__).resolve().parents if (p / _DATA).is_file()),
            Path(__file__).resolve().parents[3] / _DATA)

PAIRS = [
    ("How do I learn Python?", "How can I learn Python?", 1),
    ("What is the capital of France?", "What's the capital city of France?", 1),
    ("What is the population of Baker County?", "What is the population of Wheeler County?", 0),
    ("Is a 2 bedroom flat enough for a family?", "Is a 3 bedroom flat enough for a family?", 0),
    ("How do I bake sourdough bread?", "What is the tallest mountain in Africa?", 0),
]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    parser = argparse.ArgumentParser(prog="fleetcost")
    eval_cli.register(parser.add_subparsers(dest="command"), "eval", "evaluations")
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(
        json.dumps({"text_a": a, "text_b": b, "label": y}) + "\n" for a, b, y in PAIRS))
    return path


def test_json_report_on_small_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = json.loads(_run(["eval", "cache", str(_write(tmp_path)), "--json"], capsys))
    assert {"thresholds", "at_default", "recommended"} <= report.keys()
    assert [round(r["threshold"], 2) for r in report["thresholds"]][:2] == [0.70, 0.71]
    assert report["thresholds"][-1]["threshold"] == pytest.approx(0.99)
    d = report["at_default"]
    # the default verifier serves both paraphrases and refuses both one-detail negatives
    assert (d["precision"], d["recall"], d["false_hit_rate"]) == (1.0, 1.0, 0.0)
    assert set(d) >= {"threshold", "precision", "recall", "false_hit_rate"}
    assert report["verifier"] == "CrossVerifier"
    assert report["verifier_ms_per_call"] > 0 and report["runtime_s"] >= 0
    assert (tmp_path / "xdg" / "fleetcost" / "embeddings.sqlite3").is_file()


def test_without_guard_the_negatives_hit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(["eval", "cache", str(_write(tmp_path)), "--json", "--no-guard",
                "--threshold", "0.8"], capsys)
    d = json.loads(out)["at_default"]
    assert d["threshold"] == 0.8
    assert d["false_hit_rate"] >= 0.2  # Baker/Wheeler and 2/3 bedrooms are > 0.8 cosine


def test_text_table_and_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(["eval", "cache", str(_write(tmp_path)), "--limit", "2"], capsys)
    assert out.startswith("2 pairs in caches of 5000, verifier CrossVerifier")
    assert "recommended for precision" in out


def test_pairs_go_into_caches_of_the_given_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pair 0 and pair 1 are one paraphrase asked both ways round; in caches of one pair
    each, query 1 cannot reach pair 0's question, which in one cache it hits (as the
    wrong entry of its own pair when that is refused)."""
    path = tmp_path / "pairs.jsonl"
    rows = [("How do I learn Python?", "How can I learn Python?", 1),
            ("What is the capital of France?", "How can I learn Python?", 0)]
    path.write_text("".join(json.dumps({"text_a": a, "text_b": b, "label": y}) + "\n"
                            for a, b, y in rows))
    one = json.loads(_run(["eval", "cache", str(path), "--json", "--no-guard",
                           "--threshold", "0.8", "--cache-pairs", "0"], capsys))
    apart = json.loads(_run(["eval", "cache", str(path), "--json", "--no-guard",
                             "--threshold", "0.8", "--cache-pairs", "1"], capsys))
    assert (one["cache_pairs"], apart["cache_pairs"]) == (2, 1)
    assert one["at_default"]["false_hit_rate"] == 1.0  # the label-0 query hit pair 0
    assert apart["at_default"]["false_hit_rate"] == 0.0
    assert one["at_default"]["recall"] == apart["at_default"]["recall"] == 1.0


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(BadRequest, match="no such file"):
        _run(["eval", "cache", str(tmp_path / "missing.jsonl")], capsys)
    with pytest.raises(BadRequest, match="threshold"):
        _run(["eval", "cache", str(_write(tmp_path)), "--threshold", "1.5"], capsys)
    with pytest.raises(BadRequest, match="cache-pairs"):
        _run(["eval", "cache", str(_write(tmp_path)), "--cache-pairs", "-1"], capsys)


def test_real_quora_pairs_limit_200(capsys: pytest.CaptureFixture[str]) -> None:
    if not REAL.is_file():
        pytest.skip(f"shared data absent: {REAL}")
    report = json.loads(_run(["eval", "cache", str(REAL), "--limit", "200", "--json",
                             "--candidates", "1"], capsys))
    assert report["pairs"] == 200
    raw = {round(r["threshold"], 2): r for r in report["thresholds_raw_cosine"]}
    verified = {round(r["threshold"], 2): r for r in report["thresholds"]}
    # with one candidate the verifier only ever removes hits
    for t in (0.75, 0.85, 0.95):
        assert verified[t]["false_hit_rate"] <= raw[t]["false_hit_rate"]
        assert verified[t]["hit_rate"] <= raw[t]["hit_rate"] + 1e-9
    # it refuses some of the one-detail-apart partners the raw cosine serves at 0.85
    assert verified[0.85]["false_hits_partner"] < raw[0.85]["false_hits_partner"]


def test_restatement_probe_at_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's paraphrase target, on the small hand-written probe (40 restatements, 20
    one-detail negatives, one cache): what `at_default` says there, with the real model."""
    probe = Path(__file__).parent / "data" / "restatements.jsonl"
    d = json.loads(_run(["eval", "cache", str(probe), "--json"], capsys))["at_default"]
    # the paraphrase target; 1.0 precision at 0.60 recall when the blend was chosen
    assert d["precision"] >= 0.95 and d["recall"] >= 0.6, d
