from __future__ import annotations

import pytest

from fleetcost.cache.guard import _WORD, GuardConfig, extract, refusal
from fleetcost.cache.numbers import values


def numbers(text: str) -> set[str]:
    return values(_WORD.findall(text))


@pytest.mark.parametrize(("spelled", "digits"), [
    ("hold the button for five seconds", "hold the button for 5 seconds"),
    ("a team has eleven players", "a team has 11 players"),
    ("three to six months of expenses", "3 to 6 months of expenses"),
    ("twenty-five people", "25 people"),
    ("two hundred and five pages", "205 pages"),
    ("five thousand users", "5,000 users"),
    ("3 million people", "three million people"),
    ("the first album", "the 1st album"),
    ("one or two cups", "1 or 2 cups"),
])
def test_a_number_reads_the_same_in_words_and_digits(spelled: str, digits: str) -> None:
    assert numbers(spelled) == numbers(digits)
    assert refusal(extract(spelled), extract(digits), GuardConfig(max_unmatched=1)) is None


@pytest.mark.parametrize(("a", "b"), [
    ("five seconds", "50 seconds"),
    ("twenty five", "25 5"),
    ("the first album", "1 album"),
    ("between three and six", "between 9"),
    ("Python 3.11", "Python 3.12"),
])
def test_different_numbers_stay_different(a: str, b: str) -> None:
    assert numbers(a) != numbers(b)


def test_one_and_second_alone_are_words() -> None:
    assert numbers("which one is the best, wait a second") == set()
    assert numbers("one hundred") == {"100"}


@pytest.mark.parametrize(("a", "b"), [
    ("Spiders are arachnids, not insects.", "Spiders are arachnids rather than insects."),
    ("Cats cannot taste sweetness.", "Cats are unable to taste sweetness."),
    ("A deck has 52 cards, not counting jokers.", "Excluding jokers, a deck has 52 cards."),
])
def test_negation_said_without_not_agrees(a: str, b: str) -> None:
    assert extract(a).negated and extract(b).negated
