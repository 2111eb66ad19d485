"""Detail guard: refuse a semantic hit whose question differs in a detail.

Why: MiniLM cosine rates "How many bedrooms for 2 people?" and "... 3 people?"
as near-identical, and Quora's hard negatives are exactly that (one number,
name, negation or qualifier differs). A cosine high enough to reject them
(~0.95) also rejects most honest paraphrases. So the cache first asks a cheap
lexical question, "is every detail of each side present in the other?", and
applies a moderate cosine threshold only to candidates that pass.

Rules, each symmetric:
- numbers must be the same set of values (cache/numbers.py: "five" is 5);
- negation must agree (both negated or neither);
- capitalised words / acronyms (names, places, products) of one side must
  appear in the other (any case, by stem or a close spelling);
- content words left after stop-word removal and light stemming must be
  matched in the other side: by stem, by a close spelling, or (when the caller
  supplies word vectors) by a synonym-level cosine of the words' own MiniLM
  embeddings; at most `max_unmatched` per side may go unmatched.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetcost.cache.numbers import is_number, values

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

# words -> unit vectors, one per word (e.g. fleetcost.cache.embed.embed)
WordVectors = Callable[[list[str]], "FloatArray"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+(?:[.,:/]\d+)*(?:st|nd|rd|th)?")
_NEGATIONS = _words(
    "not no never nor none nothing nobody nowhere without cannot cant dont doesnt didnt "
    "isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt"
)
# Negation said without "not": "spiders are arachnids, not insects" is restated
# as "arachnids rather than insects", "cannot taste" as "unable to taste".
_CONTRAST_PAIRS = {"rather": "than", "instead": "of", "other": "than"}
_CONTRAST = _words("unable except excluding lack lacks lacking")


def _contrast(low: str, tokens: list[str], pos: int) -> bool:
    if low in _CONTRAST:
        return True
    follow = _CONTRAST_PAIRS.get(low)
    return follow is not None and pos + 1 < len(tokens) and tokens[pos + 1].lower() == follow


# Function words and question framing ("how do I", "what is the best way to")
# that paraphrases add or drop freely without changing what is asked.
_STOP = _words(
    "a an the and or but if so as of at by for from in into on onto to with about "
    "over under after before between through during than then too very also just "
    "i me my mine we us our you your yours he him his she her it its they them "
    "their this that these those there here what which who whom whose why how when "
    "where whether is am are was were be been being do does did doing done have has "
    "had having can could will would shall should may might must ought let lets "
    "get gets got getting some any all each every other such own same more most "
    "much many few lot lots really actually exactly possible please tell know "
    "way ways best good better one ones thing things something anything someone "
    "anyone people person quora like go going want need make use used using "
    "s t d ll m re ve"
)
_SUFFIXES = ("ations", "ation", "ingly", "ings", "ing", "edly", "ies", "ied",
             "es", "ed", "ly", "s")


@dataclass(frozen=True)
class Detail:
    """What the guard compares: extracted once per text so an index can store it."""

    numbers: frozenset[str]
    negated: bool
    names: frozenset[str]
    content: frozenset[str]  # stems of content words
    stems: frozenset[str]  # stems of every word (a match may land on a stop word)
    surface: dict[str, str] = field(default_factory=dict, compare=False)  # stem -> word


@dataclass(frozen=True)
class GuardConfig:
    """The semantic match policy; defaults were tuned on the train half of the Quora pairs.

    `threshold` is the minimum cosine; with `enabled`, a candidate must also
    pass the detail checks (see module docstring).
    """

    threshold: float = 0.90
    enabled: bool = True
    max_unmatched: int = 0
    spelling_ratio: float = 0.85  # difflib ratio that counts two stems as one word
    # Word-vector cosine that counts two words as one. MiniLM puts antonyms close
    # too (cheap/expensive 0.80, easy/difficult 0.77) while synonyms sit at 0.8-0.9
    # (buy/purchase 0.87, movie/film 0.84): 0.81 sits just above the antonyms.
    synonym_cosine: float = 0.81
    # How many nearest entries the guard may look through before declaring a miss.
    # 1: when the nearest question differs in a detail, serving a farther one
    # added more false hits than right ones on the Quora train half.
    candidates: int = 1


def stem(word: str) -> str:
    """Light suffix stripping: enough to match plurals and verb forms, never below 3 letters."""
    w = word.lower().replace("'", "")
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            base = w[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return w


def extract(text: str) -> Detail:
    """Split a question into the details the guard compares."""
    tokens = _WORD.findall(text)
    numeric = [is_number(tokens, i) for i in range(len(tokens))]
    numbers = values(tokens, numeric)
    names: set[str] = set()
    surface: dict[str, str] = {}
    stems: set[str] = set()
    negated = False
    for pos, tok in enumerate(tokens):
        low = tok.lower()
        flat = low.replace("'", "")
        if low.endswith("n't") or flat in _NEGATIONS or _contrast(low, tokens, pos):
            negated = True
            continue
        if numeric[pos]:
            continue
        s = stem(low)
        stems.add(s)
        if _is_name(tok, pos, tokens):
            names.add(s)
        if low not in _STOP and s not in _STOP:
            surface.setdefault(s, low)
    return Detail(frozenset(numbers), negated, frozenset(names), frozenset(surface),
                  frozenset(stems), surface)


def _is_name(tok: str, pos: int, tokens: list[str]) -> bool:
    """Capitalised mid-sentence (or an acronym anywhere) and not a function word."""
    if tok == "I" or tok.lower() in _STOP:
        return False
    if len(tok) > 1 and tok.isupper():
        return True
    return pos > 0 and tok[0].isupper()


def _spelled_alike(word: str, other: frozenset[str], ratio: float) -> bool:
    if word in other:
        return True
    if len(word) < 4:
        return False
    for o in other:
        if len(o) < 4 or abs(len(o) - len(word)) > 3:
            continue
        m = difflib.SequenceMatcher(None, word, o)
        if m.real_quick_ratio() >= ratio and m.quick_ratio() >= ratio and m.ratio() >= ratio:
            return True
    return False


def _left_over(a: Detail, b: Detail, ratio: float) -> list[str]:
    """Content stems of a that b has neither as a stem nor as a close spelling."""
    return [w for w in sorted(a.content) if not _spelled_alike(w, b.stems, ratio)]


def _synonyms(
    left: list[str], a: Detail, b: Detail, vectors: WordVectors, cosine: float
) -> int:
    """How many of a's left-over words have no word in b within `cosine` (word vectors)."""
    targets = sorted(b.content)
    if not targets:
        return len(left)
    words = [a.surface[w] for w in left] + [b.surface[w] for w in targets]
    vecs = vectors(words)
    sims = vecs[: len(left)] @ vecs[len(left):].T
    return int((sims.max(axis=1) < cosine).sum())


def unmatched(
    a: Detail, b: Detail, config: GuardConfig | None = None, vectors: WordVectors | None = None
) -> tuple[int, int]:
    """Content words of a missing from b, and of b missing from a."""
    cfg = config or GuardConfig()
    counts = []
    for x, y in ((a, b), (b, a)):
        left = _left_over(x, y, cfg.spelling_ratio)
        if left and vectors is not None:
            counts.append(_synonyms(left, x, y, vectors, cfg.synonym_cosine))
        else:
            counts.append(len(left))
    return counts[0], counts[1]


def refusal(
    a: Detail, b: Detail, config: GuardConfig | None = None, vectors: WordVectors | None = None
) -> str | None:
    """Why a and b are not the same question, or None when no detail differs."""
    cfg = config or GuardConfig()
    if a.numbers != b.numbers:
        return "numbers"
    if a.negated != b.negated:
        return "negation"
    for x, y in ((a, b), (b, a)):
        if any(not _spelled_alike(n, y.stems, cfg.spelling_ratio) for n in x.names):
            return "names"
    if max(unmatched(a, b, cfg, vectors)) > cfg.max_unmatched:
        return "content"
    return None


def same_details(
    text_a: str, text_b: str, config: GuardConfig | None = None, vectors: WordVectors | None = None
) -> bool:
    """Convenience for callers holding raw texts."""
    return refusal(extract(text_a), extract(text_b), config, vectors) is None
