"""Labelled routing data: per-query quality of two or more models.

A router learns and is judged on rows that say, for one prompt, how good each
model's answer was. Four public shapes are read into one `Benchmark`:

- a CSV with `prompt`, one correctness (or score) column per model and
  optional `<model>_response` columns (the weak model's answer is what a
  cascade gate reads);
- a folder of such CSVs (one per subject; the file name becomes the group);
- a `judgements.jsonl` of per-turn judge scores (1-10) with `question.jsonl`
  beside it; each (question, turn) is one query and both turns of a question
  share a group, so a split never puts turn 2 in test and turn 1 in train;
- a wide preference CSV (`instruction_id` + one win-probability column per
  model), with `instructions.csv` and optionally `output_tokens_*_wide.csv`
  beside it for the prompts and recorded output lengths.

Prompts listed in a `contaminated_prompts.jsonl` next to the data (or one
folder up) are dropped: they overlap the data routers are usually trained on.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fleetcost.errors import BadRequest

_TRUE = frozenset({"true", "1", "1.0", "yes"})
_FALSE = frozenset({"false", "0", "0.0", "no"})
_RESPONSE = "_response"
_ANSWER_AT_END = re.compile(
    r"(?:\[The Start of Assistant's Answer\]\n|### Assistant A:\n)"
    r"(?P<text>(?:(?!### Assistant A:\n|\[The Start of Assistant's Answer\]).)*?)"
    r"\s*(?:\[The End of Assistant's Answer\]|<\|The End of Assistant A's Conversation)",
    re.S,
)


@dataclass(frozen=True)
class Query:
    """One prompt and how well each model answered it (higher is better)."""

    prompt: str
    quality: dict[str, float]
    group: str = ""
    responses: dict[str, str] = field(default_factory=dict)
    output_tokens: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    name: str
    models: tuple[str, ...]
    queries: tuple[Query, ...]
    split_by_group: bool = False  # several rows per conversation: keep them together

    def mean_quality(self, model: str) -> float:
        return sum(q.quality[model] for q in self.queries) / max(1, len(self.queries))

    def has_responses(self, model: str) -> bool:
        return bool(self.queries) and all(model in q.responses for q in self.queries)


def load(path: Path) -> Benchmark:
    """Read any supported shape; the shape is told by the file, not a flag."""
    if path.is_dir():
        return _load_folder(path)
    if not path.is_file():
        raise BadRequest(f"no such file or folder: {path}", param="DATA")
    if path.suffix == ".jsonl":
        return _load_judgements(path)
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    if "prompt" in header:
        return _finish(path.stem, _read_csv(path, path.stem), _contaminated(path.parent))
    if "instruction_id" in header:
        return _load_preferences(path)
    raise BadRequest(
        f"{path} is neither a routing CSV (needs a `prompt` column) nor a wide preference "
        "CSV (needs `instruction_id`)", param="DATA",
    )


def _load_folder(path: Path) -> Benchmark:
    files = sorted(path.glob("*.csv"))
    if not files:
        inner = path / "judgements.jsonl"
        if inner.is_file():
            return _load_judgements(inner)
        raise BadRequest(f"{path} holds no CSV files and no judgements.jsonl", param="DATA")
    queries = [q for f in files for q in _read_csv(f, f.stem)]
    name = path.name if path.name != "responses" else path.parent.name
    return _finish(name, queries, _contaminated(path))


def _read_csv(path: Path, group: str) -> Iterator[Query]:
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        models = [c for c in cols if c != "prompt" and not c.endswith(_RESPONSE)]
        if not models:
            raise BadRequest(f"{path} has no model columns beside `prompt`", param="DATA")
        answered = [m for m in models if m + _RESPONSE in cols]
        for line, row in enumerate(reader, start=2):
            quality = {m: _score(row[m], path, line, m) for m in models}
            responses = {m: row[m + _RESPONSE] or "" for m in answered}
            yield Query(row["prompt"], quality, group, responses)


def _score(raw: str | None, path: Path, line: int, column: str) -> float:
    text = (raw or "").strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise BadRequest(
            f"{path}:{line}: column {column!r} must be true/false or a number, got {raw!r}",
            param="DATA",
        ) from None


def _contaminated(folder: Path) -> frozenset[str]:
    for where in (folder, folder.parent):
        path = where / "contaminated_prompts.jsonl"
        if path.is_file():
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            return frozenset(_norm(r["eval_prompt"]) for r in rows if "eval_prompt" in r)
    return frozenset()


def _norm(text: str) -> str:
    return " ".join(text.split())


def _finish(name: str, queries: Iterable[Query], dropped: frozenset[str]) -> Benchmark:
    kept = tuple(q for q in queries if _norm(q.prompt) not in dropped)
    if not kept:
        raise BadRequest(f"benchmark {name!r} has no rows", param="DATA")
    models = tuple(kept[0].quality)
    return Benchmark(name, models, kept)


def _load_judgements(path: Path) -> Benchmark:
    questions = _questions(path.parent / "question.jsonl")
    dropped = _contaminated(path.parent)
    cells: dict[tuple[str, int], Query] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        qid, turn = str(row["question_id"]), int(row["turn"])
        turns = questions.get(qid)
        if turns is None:
            raise BadRequest(f"{path}: question {qid} is not in question.jsonl", param="DATA")
        if _norm(turns[0]) in dropped:
            continue
        key = (qid, turn)
        query = cells.setdefault(key, Query("\n\n".join(turns[:turn]), {}, qid))
        query.quality[row["model"]] = float(row["score"])
        found = _ANSWER_AT_END.findall(str(row.get("user_prompt", "")))
        query.responses[row["model"]] = found[-1].strip() if found else ""
    models = sorted({m for q in cells.values() for m in q.quality})
    complete = tuple(q for _, q in sorted(cells.items()) if set(q.quality) == set(models))
    if not complete:
        raise BadRequest(f"{path} has no question judged for every model", param="DATA")
    return Benchmark(path.parent.name, tuple(models), complete, split_by_group=True)


def _questions(path: Path) -> dict[str, list[str]]:
    if not path.is_file():
        raise BadRequest(f"judge scores need {path} beside them for the prompts", param="DATA")
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[str(row["question_id"])] = [str(t) for t in row["turns"]]
    return out


def _load_preferences(path: Path) -> Benchmark:
    prompts = _wide(path.parent / "instructions.csv", "instruction")
    lengths = {}
    for other in sorted(path.parent.glob("output_tokens_*_wide.csv")):
        lengths = _wide_table(other)
    rows = _wide_table(path)
    # Only models judged on every instruction are comparable query by query.
    judged = [set(r) for iid, r in rows.items() if iid in prompts]
    models = sorted(set.intersection(*judged)) if judged else []
    queries = []
    for iid, prefs in rows.items():
        if iid in prompts:
            recorded = {m: int(v) for m, v in lengths.get(iid, {}).items() if m in models}
            queries.append(Query(prompts[iid], {m: prefs[m] for m in models}, iid, {}, recorded))
    return _finish(path.stem, queries, frozenset())


def _wide(path: Path, column: str) -> dict[str, str]:
    if not path.is_file():
        raise BadRequest(f"the preference CSV needs {path} beside it", param="DATA")
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["instruction_id"]: r[column] for r in csv.DictReader(fh)}


def _wide_table(path: Path) -> dict[str, dict[str, float]]:
    """instruction id -> model -> value, skipping empty cells."""
    out: dict[str, dict[str, float]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            iid = row.pop("instruction_id")
            out[iid] = {m: float(v) for m, v in row.items() if m and v not in ("", None)}
    return out
