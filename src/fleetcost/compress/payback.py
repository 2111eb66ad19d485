"""When a cut pays for the prefix cache it breaks.

Cutting old turns shortens every later prompt, but the turns kept after the
cut move, so the provider must read them again at the full price (and, for
caches with a write premium, write them at a premium) instead of from its
cache. Per cut, with prices as fractions of the input price:

    saved = dropped tokens x cache-read rate x (1 + payback_turns)
    extra = re-sent tokens x (cache-write rate - cache-read rate) + overhead

(`overhead`: what making the cut costs by itself, such as the summary calls,
in the same units: input tokens of the main model.)

The dropped tokens would have been cache reads on this call and on the
`payback_turns` calls the cut is given to pay back. A cut is made when
saved >= extra. With no cache (read rate 1) every cut pays; with a 90% read
discount and a 25% write premium a cut must drop about 2.3 times what it
re-sends (at four turns of payback).

The decision for block j is taken as of the turn it became eligible (the
prompt cut to its first j blocks plus the verbatim window, its last, still
growing turn left out), which every later prompt contains unchanged: so the
decision, like the rewritten prefix, is the same on every later turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class CacheRates:
    """Prices over the main model's input price: cache read and write (1 and 1
    mean no cache), and the summary model's input and output (0: not known)."""

    read: Decimal = ONE
    write: Decimal = ONE
    summary_input: Decimal = Decimal(0)
    summary_output: Decimal = Decimal(0)


def pays(dropped: int, resent: int, rates: CacheRates, turns: int,
         overhead: Decimal = Decimal(0)) -> bool:
    if dropped <= 0:
        return False
    if turns <= 0:
        return True  # payback_turns = 0: cut regardless of the cache
    saved = dropped * rates.read * (1 + turns)
    extra = resent * max(Decimal(0), rates.write - rates.read) + overhead
    return saved >= extra


def blocks_to_cut(
    sizes: list[int], eligible: int, block: int, keep: int, rates: CacheRates, turns: int,
    dropped: Callable[[int, int], int], note_tokens: int = 0,
    overhead: Callable[[int, int], Decimal] = lambda first, last: Decimal(0),
) -> int:
    """How many leading blocks to cut (0..eligible).

    `sizes` are the tokens of each turn group; `dropped(c, j)` the tokens
    removed by cutting blocks c..j-1 (the rest of those blocks is re-sent);
    `note_tokens` what each cut block adds back (a summary's size bound);
    `overhead(c, j)` the cost of making that cut (see above).
    """
    cut = 0
    for j in range(1, eligible + 1):
        end = min(len(sizes), j * block + keep) - 1  # the growing last turn left out
        gone = dropped(cut, j)
        span = sum(sizes[cut * block:j * block])
        resent = (span - gone) + sum(sizes[j * block:end]) + note_tokens * (j - cut)
        if pays(gone - note_tokens * (j - cut), resent, rates, turns, overhead(cut, j)):
            cut = j
    return cut
