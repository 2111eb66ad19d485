"""A changed qualifier: one side says "cheap" where the other says "expensive".

Why a list and not vectors: antonyms share their contexts, so MiniLM's
sentence cosine (0.93 for "Regular exercise lowers / raises blood pressure")
and its word table (~0.55-0.6) both rate them as near-synonyms; the pair
network served such pairs. The pairs are data (antonyms.txt).
"""

from __future__ import annotations

import functools
from importlib import resources

from fleetcost.cache.guard import Detail, stem


@functools.lru_cache(maxsize=1)
def opposites() -> dict[str, frozenset[str]]:
    """stem (of any inflection) -> the stems of the words listed as its opposites."""
    text = resources.files("fleetcost.cache").joinpath("antonyms.txt").read_text()
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) != 2:
            continue
        a, b = _stems(words[0]), _stems(words[1])
        for x, y in ((a, b), (b, a)):
            for s in x:
                out.setdefault(s, set()).update(y)
    return {k: frozenset(v) for k, v in out.items()}


def _stems(word: str) -> set[str]:
    """The light stems of a word's usual inflections ("raises" stems to "rais")."""
    forms = {word, word + "s", word + "es", word + "ed", word + "d", word + "ing", word + "er",
             word + "est"}
    if word.endswith("e"):
        forms.add(word[:-1] + "ing")
    if word.endswith("y"):
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    return {stem(f) for f in forms}


def flipped(a: Detail, b: Detail) -> bool:
    """A word of one side whose opposite is in the other side, and not the word itself."""
    table = opposites()
    for x, y in ((a, b), (b, a)):
        for w in x.stems - y.stems:
            if table.get(w, frozenset()) & (y.stems - x.stems):
                return True
    return False
