"""The cost function: pinned worked examples, then properties over arbitrary usage."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetcost.pricing.cost import cost, format_usd
from fleetcost.types import Price, Usage

GPT_4O = Price(
    model="gpt-4o",
    provider="openai",
    input=Decimal("2.5"),
    output=Decimal("10"),
    cache_read=Decimal("1.25"),
    batch_discount=Decimal("0.5"),
)
SONNET = Price(
    model="claude-sonnet-4-5",
    provider="anthropic",
    input=Decimal("3"),
    output=Decimal("15"),
    cache_read=Decimal("0.3"),
    cache_write_5m=Decimal("3.75"),
    cache_write_1h=Decimal("6"),
    batch_discount=Decimal("0.5"),
)


def test_openai_prompt_with_cached_prefix() -> None:
    # 2,000 prompt tokens of which 1,024 read from cache, 300 out:
    # 976 x 2.5 + 1,024 x 1.25 + 300 x 10 = 2,440 + 1,280 + 3,000 = 6,720 micro-USD.
    usage = Usage(input_tokens=2000, cached_tokens=1024, output_tokens=300)
    assert cost(usage, GPT_4O) == Decimal("0.00672")
    assert cost(usage, GPT_4O, batch=True) == Decimal("0.00336")


def test_anthropic_read_and_both_write_ttls() -> None:
    # 10,000 prompt tokens: 1,000 plain, 6,000 read, 2,000 written for 5m, 1,000 for 1h; 500 out.
    # 3,000 + 1,800 + 7,500 + 6,000 + 7,500 = 25,800 micro-USD.
    usage = Usage(
        input_tokens=10_000,
        cached_tokens=6_000,
        cache_write_5m_tokens=2_000,
        cache_write_1h_tokens=1_000,
        output_tokens=500,
    )
    assert cost(usage, SONNET) == Decimal("0.0258")
    assert cost(usage, SONNET, batch=True) == Decimal("0.0129")


def test_missing_cache_rates_bill_at_input_rate() -> None:
    plain = Price(model="m", provider="p", input=Decimal("2"), output=Decimal("8"))
    usage = Usage(
        input_tokens=1_000_000,
        cached_tokens=250_000,
        cache_write_5m_tokens=250_000,
        cache_write_1h_tokens=250_000,
    )
    assert cost(usage, plain) == Decimal(2)


def test_reasoning_tokens_are_not_billed_twice() -> None:
    with_reasoning = Usage(input_tokens=10, output_tokens=1000, reasoning_tokens=800)
    without = Usage(input_tokens=10, output_tokens=1000)
    assert cost(with_reasoning, GPT_4O) == cost(without, GPT_4O)


def test_batch_without_discount_changes_nothing() -> None:
    plain = Price(model="m", provider="p", input=Decimal("1"), output=Decimal("1"))
    usage = Usage(input_tokens=123, output_tokens=45)
    assert cost(usage, plain, batch=True) == cost(usage, plain) == Decimal("0.000168")


@pytest.mark.parametrize(
    "usage",
    [
        Usage(input_tokens=-1),
        Usage(input_tokens=100, cached_tokens=80, cache_write_5m_tokens=30),
        Usage(input_tokens=10, output_tokens=-5),
    ],
)
def test_unbillable_usage_is_rejected(usage: Usage) -> None:
    with pytest.raises(ValueError, match="usage"):
        cost(usage, GPT_4O)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0.0072500"), "0.00725"),
        (Decimal("1E+1"), "10"),
        (Decimal("0"), "0"),
        (Decimal("-0.000"), "0"),
        (Decimal("2.5E-7"), "0.00000025"),
        (Decimal("12.000"), "12"),
        (Decimal("-1.50"), "-1.5"),
    ],
)
def test_format_usd(amount: Decimal, text: str) -> None:
    assert format_usd(amount) == text


# -- properties --------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10_000_000)
rates = st.decimals(min_value=0, max_value=200, places=6, allow_nan=False, allow_infinity=False)
optional_rates = st.none() | rates


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    plain, cached, w5, w1 = draw(counts), draw(counts), draw(counts), draw(counts)
    return Usage(
        input_tokens=plain + cached + w5 + w1,
        cached_tokens=cached,
        cache_write_5m_tokens=w5,
        cache_write_1h_tokens=w1,
        output_tokens=draw(counts),
    )


@st.composite
def prices(draw: st.DrawFn, discount: st.SearchStrategy[Decimal] | None = None) -> Price:
    return Price(
        model="m",
        provider="p",
        input=draw(rates),
        output=draw(rates),
        cache_read=draw(optional_rates),
        cache_write_5m=draw(optional_rates),
        cache_write_1h=draw(optional_rates),
        batch_discount=draw(
            discount
            if discount is not None
            else st.sampled_from([Decimal(0), Decimal("0.5"), Decimal("0.25")])
        ),
    )


@given(usages(), usages(), prices())
def test_cost_is_additive(a: Usage, b: Usage, price: Price) -> None:
    assert cost(a + b, price) == cost(a, price) + cost(b, price)
    assert cost(a + b, price, batch=True) == cost(a, price, batch=True) + cost(b, price, batch=True)


@given(
    usages(),
    prices(),
    st.integers(min_value=1, max_value=1_000_000),
    st.sampled_from(["input", "cached", "write_5m", "write_1h", "output"]),
)
def test_cost_is_monotone_in_every_count(usage: Usage, price: Price, more: int, kind: str) -> None:
    # Adding tokens of one kind (a cached token is also a prompt token) never lowers the bill.
    extra = {
        "input": Usage(input_tokens=more),
        "cached": Usage(input_tokens=more, cached_tokens=more),
        "write_5m": Usage(input_tokens=more, cache_write_5m_tokens=more),
        "write_1h": Usage(input_tokens=more, cache_write_1h_tokens=more),
        "output": Usage(output_tokens=more),
    }[kind]
    assert cost(usage + extra, price) >= cost(usage, price)


@given(usages(), prices(discount=st.just(Decimal("0.5"))))
def test_half_batch_discount_halves_exactly(usage: Usage, price: Price) -> None:
    assert cost(usage, price, batch=True) * 2 == cost(usage, price)


@given(usages(), prices())
def test_cost_is_non_negative_exact_decimal(usage: Usage, price: Price) -> None:
    result = cost(usage, price)
    assert isinstance(result, Decimal)
    assert result >= 0

    # Recompute with rationals: the Decimal must equal the exact value, digit for digit.
    def q(rate: Decimal | None) -> Fraction:
        return Fraction(price.input if rate is None else rate)

    expected = (
        usage.uncached_input_tokens * Fraction(price.input)
        + usage.cached_tokens * q(price.cache_read)
        + usage.cache_write_5m_tokens * q(price.cache_write_5m)
        + usage.cache_write_1h_tokens * q(price.cache_write_1h)
        + usage.output_tokens * Fraction(price.output)
    ) / 1_000_000
    assert Fraction(result) == expected
    assert Fraction(cost(usage, price, batch=True)) == expected * (
        1 - Fraction(price.batch_discount)
    )
