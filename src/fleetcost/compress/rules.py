"""The policies' wording and word lists, read once from `rules.toml`."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

RULES_FILE = Path(__file__).with_name("rules.toml")


@dataclass(frozen=True, slots=True)
class Rules:
    summary_prompt: str
    correction_starts: tuple[str, ...]
    correction_phrases: tuple[str, ...]
    trim_marker: str
    dedupe_marker: str

    def is_correction(self, text: str) -> bool:
        lowered = text.strip().lower()
        if not lowered:
            return False
        return lowered.startswith(self.correction_starts) or any(
            p in lowered for p in self.correction_phrases
        )


@functools.cache
def rules() -> Rules:
    raw = tomllib.loads(RULES_FILE.read_text())
    return Rules(
        summary_prompt=raw["summary_prompt"],
        correction_starts=tuple(raw["correction_starts"]),
        correction_phrases=tuple(raw["correction_phrases"]),
        trim_marker=raw["trim_marker"],
        dedupe_marker=raw["dedupe_marker"],
    )
