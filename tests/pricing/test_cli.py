"""`fleetcost prices` and `fleetcost count` through the real entry point."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fleetcost.cli.main import main

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GENAI = SHARED / "genai-prices" / "prices" / "data.json"


def test_prices_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:5] == ["model", "provider", "tier", "input", "output"]
    line = next(row for row in out.splitlines() if row.startswith("gpt-4o "))
    assert line.split()[1:6] == ["openai", "frontier", "2.5", "10", "1.25"]
    assert "models; rates in USD per million tokens" in out


def test_prices_json_prints_money_as_strings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    row = next(r for r in rows if r["model"] == "claude-sonnet-4-5")
    assert row["input"] == "3" and row["cache_write_1h"] == "6" and row["batch_discount"] == "0.5"


def test_prices_for_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "anthropic/claude-haiku-4-5-20251001", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["model"] == "claude-haiku-4-5-20251001"
    assert entry["requested"] == "anthropic/claude-haiku-4-5-20251001"
    assert (entry["input"], entry["min_cacheable_tokens"]) == ("1", 4096)
    assert main(["prices", "gpt-4o-mini"]) == 0
    assert "0.075" in capsys.readouterr().out


def test_unknown_model_is_one_sentence_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "no-such-model"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "No price for 'no-such-model'" in captured.err


@pytest.mark.skipif(not GENAI.exists(), reason="genai-prices data not present")
def test_prices_import_writes_a_user_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["prices", "import", str(GENAI), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "genai-prices" and report["added"] == report["total"] > 100
    user = tmp_path / "fleetcost-prices.json"
    assert user.exists()
    # Importing the same list again changes nothing.
    assert main(["prices", "import", str(GENAI), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["added"], again["updated"], again["total"]) == (0, 0, report["total"])
    # The user catalog layers over the bundled one: a genai-only key now resolves.
    assert main(["prices", "openai/gpt-4o", "--catalog", str(user), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "openai/gpt-4o"
    assert main(["prices", "import", str(GENAI), "--out", str(tmp_path / "other.json")]) == 0
    assert "genai-prices format" in capsys.readouterr().out


def test_prices_import_rejects_a_file_in_no_known_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": "world"}')
    assert main(["prices", "import", str(bad), "--out", str(tmp_path / "out.json")]) == 1
    err = capsys.readouterr().err
    assert "is neither LiteLLM format" in err and err.count("\n") == 1
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prices", "import"], "exactly one file"),
        (["prices", "a", "b"], "at most one model"),
        (["prices", "gpt-4o", "--out", "x.json"], "--out only applies"),
    ],
)
def test_prices_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_count_text_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("tiktoken is great!")
    assert main(["count", "--model", "gpt-4o", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "6 tokens (text, o200k_base, exact)"


def test_count_messages_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hello world"}]}))
    assert main(["count", "--model", "gpt-4o", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["kind"], result["tokens"], result["exact"]) == ("messages", 9, False)
    assert result["upper_bound"] >= 9


def test_count_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('[{"role": "user", "content": "hi"}]'))
    assert main(["count", "--model", "claude-sonnet-4-5", "-"]) == 0
    out = capsys.readouterr().out
    assert "messages, estimated with o200k_base, claude profile" in out


def test_count_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--model", "gpt-4o", str(tmp_path / "nope.txt")]) == 1
    assert "No such file" in capsys.readouterr().err
