from __future__ import annotations

import pytest

from fleetcost.cache.guard import GuardConfig, extract, refusal, same_details, stem


@pytest.mark.parametrize(("a", "b"), [
    ("How do I learn Python?", "How can I learn Python?"),
    ("What is the capital of France?", "What's the capital city of France?"),
    ("How can I lose weight fast?", "How do I lose weight quickly?"),
    ("What are the benefits of meditation?", "What are the benefits of meditating?"),
])
def test_paraphrases_pass(a: str, b: str) -> None:
    assert same_details(a, b, GuardConfig(max_unmatched=1))


@pytest.mark.parametrize(("a", "b", "why"), [
    ("What is the population of Baker County?", "What is the population of Wheeler County?",
     "names"),
    ("Is a 2 bedroom flat enough for a family?", "Is a 3 bedroom flat enough for a family?",
     "numbers"),
    ("Is aspartame safe?", "Is aspartame not safe?", "negation"),
    ("Why can't I sleep at night?", "Why can I sleep at night?", "negation"),
    ("What is the best laptop for programming?", "What is the cheapest laptop for gaming?",
     "content"),
    ("How do I get a job at Google?", "How do I get a job at Microsoft?", "names"),
    ("What happened in 1947?", "What happened in 1948?", "numbers"),
])
def test_detail_differences_refused(a: str, b: str, why: str) -> None:
    assert refusal(extract(a), extract(b), GuardConfig(max_unmatched=1)) == why
    assert refusal(extract(b), extract(a), GuardConfig(max_unmatched=1)) == why


def test_identical_texts_always_pass() -> None:
    text = "Which 3 books by Orwell should I read first, and why not Animal Farm?"
    assert same_details(text, text, GuardConfig(max_unmatched=0))


def test_stem_is_light_and_safe() -> None:
    assert stem("studying") == stem("study") == "study"
    assert stem("cities") == stem("city")
    assert stem("is") == "is"  # never below three letters
