"""Small data files in each supported shape, written by the tests that need them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

WEAK = "small-model"
STRONG = "big-model"


def routing_csv(path: Path, rows: list[tuple[str, bool, bool, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt", WEAK, STRONG, f"{WEAK}_response"])
        for prompt, weak_ok, strong_ok, answer in rows:
            out.writerow([prompt, str(weak_ok), str(strong_ok), answer])
    return path


def judgements(folder: Path) -> Path:
    questions = [{"question_id": 1, "category": "math", "turns": ["What is 2+2?", "And 3+3?"]},
                 {"question_id": 2, "category": "writing", "turns": ["Write a haiku.", "Again."]}]
    (folder / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    rows = []
    for qid, turn, model, score in [(1, 1, WEAK, 4), (1, 1, STRONG, 9), (1, 2, WEAK, 8),
                                    (1, 2, STRONG, 8), (2, 1, WEAK, 10), (2, 1, STRONG, 10),
                                    (2, 2, WEAK, 7), (2, 2, STRONG, 9)]:
        if turn == 1:
            conv = ("[Question]\nq\n\n[The Start of Assistant's Answer]\n"
                    f"answer {qid}.{turn} by {model}\n[The End of Assistant's Answer]")
        else:
            conv = ("<|The Start of Assistant A's Conversation with User|>\n\n### User:\nq\n\n"
                    f"### Assistant A:\nfirst\n\n### User:\nq2\n\n### Assistant A:\n"
                    f"answer {qid}.{turn} by {model}\n\n<|The End of Assistant A's "
                    "Conversation with User|>")
        rows.append({"question_id": qid, "model": model, "turn": turn, "score": score,
                     "user_prompt": conv})
    path = folder / "judgements.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def preferences(folder: Path) -> Path:
    (folder / "instructions.csv").write_text(
        "instruction_id,dataset,instruction\n0,x,Say hi\n1,x,Explain tides\n2,x,Orphan\n")
    (folder / "output_tokens_o200k_wide.csv").write_text(
        f"instruction_id,{WEAK},{STRONG}\n0,5,7\n1,100,250\n")
    path = folder / "pref_wide.csv"
    path.write_text(f"instruction_id,{WEAK},{STRONG},partial\n0,1.2,1.9,1.5\n1,1.1,1.6,\n")
    return path
