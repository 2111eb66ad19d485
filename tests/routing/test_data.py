from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetcost.errors import BadRequest
from fleetcost.routing.data import load
from tests.routing.fixtures import STRONG, WEAK, judgements, preferences, routing_csv


def test_routing_csv_with_answers_and_contamination(tmp_path: Path) -> None:
    path = routing_csv(tmp_path / "set.csv", [
        ("What is 1+1?", True, True, "2"), ("Leaked  question", False, True, "?"),
        ("Hard one", False, True, "no idea"),
    ])
    (tmp_path / "contaminated_prompts.jsonl").write_text(
        json.dumps({"eval_prompt": "Leaked question", "train_prompt": "x"}) + "\n")
    bench = load(path)
    assert bench.models == (WEAK, STRONG)
    assert [q.prompt for q in bench.queries] == ["What is 1+1?", "Hard one"]
    assert bench.queries[1].quality == {WEAK: 0.0, STRONG: 1.0}
    assert bench.queries[0].responses == {WEAK: "2"}
    assert bench.has_responses(WEAK) and not bench.has_responses(STRONG)
    assert bench.mean_quality(STRONG) == 1.0


def test_folder_of_csvs_groups_by_file(tmp_path: Path) -> None:
    folder = tmp_path / "responses"
    folder.mkdir()
    routing_csv(folder / "algebra.csv", [("a", True, True, "")])
    routing_csv(folder / "history.csv", [("b", False, True, ""), ("c", True, False, "")])
    bench = load(folder)
    assert bench.name == tmp_path.name
    assert [q.group for q in bench.queries] == ["algebra", "history", "history"]


def test_judgements_one_query_per_turn_with_answers(tmp_path: Path) -> None:
    bench = load(judgements(tmp_path))
    assert len(bench.queries) == 4 and bench.split_by_group
    first = bench.queries[0]
    assert first.prompt == "What is 2+2?" and first.quality == {WEAK: 4.0, STRONG: 9.0}
    assert first.responses[WEAK] == f"answer 1.1 by {WEAK}"
    second = bench.queries[1]
    assert second.prompt == "What is 2+2?\n\nAnd 3+3?"
    assert second.responses[STRONG] == f"answer 1.2 by {STRONG}"


def test_wide_preferences_keep_models_judged_everywhere(tmp_path: Path) -> None:
    bench = load(preferences(tmp_path))
    assert bench.models == (STRONG, WEAK)  # `partial` lacks a verdict on one instruction
    assert [q.prompt for q in bench.queries] == ["Say hi", "Explain tides"]
    assert bench.queries[1].output_tokens == {WEAK: 100, STRONG: 250}


def test_bad_inputs_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="no such file"):
        load(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,m\nhello,maybe\n")
    with pytest.raises(BadRequest, match="true/false or a number"):
        load(bad)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(BadRequest, match="prompt"):
        load(other)
