"""The one cost function: usage x price -> exact USD.

Every figure fleetcost reports (ledger `cost_usd`, `saved_usd`, budgets,
what-if plans) goes through `cost`, so there is a single place where billing
rules live:

    (input - cached - cache_write) x input rate
    + cached x cache-read rate
    + 5-minute cache writes x 5m write rate + 1-hour cache writes x 1h write rate
    + output x output rate                              (all rates per 1M tokens)
    then x (1 - batch_discount) for a batched call.

A rate the provider does not publish bills its tokens at the input rate:
that is what a cache-less provider charges for them, and it errs towards
reporting more spend, never less. Reasoning tokens are part of
`output_tokens` and are not billed again.

The arithmetic runs in a private decimal context that traps `Inexact`, so a
result is either exact or an error; there is no silent rounding anywhere.
Token counts are integers and rates are short decimals, so the products stay
far below the context's 60 digits for any realistic bill.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, localcontext

from fleetcost.types import Price, Usage

_PRECISION = 60


def cost(usage: Usage, price: Price, *, batch: bool = False) -> Decimal:
    """Exact USD cost of one call's `usage` at `price`.

    Raises `ValueError` for a usage that cannot be billed: negative counts,
    or cache reads and writes that add up to more than the prompt (an
    adapter bug that would otherwise surface as a negative charge).
    """
    _check(usage)
    uncached = usage.uncached_input_tokens
    read_rate = price.input if price.cache_read is None else price.cache_read
    write_5m = price.input if price.cache_write_5m is None else price.cache_write_5m
    write_1h = price.input if price.cache_write_1h is None else price.cache_write_1h
    exact = Context(prec=_PRECISION, traps=[Inexact, InvalidOperation, Overflow])
    with localcontext(exact):
        micro = (
            uncached * price.input
            + usage.cached_tokens * read_rate
            + usage.cache_write_5m_tokens * write_5m
            + usage.cache_write_1h_tokens * write_1h
            + usage.output_tokens * price.output
        )
        total = micro.scaleb(-6)
        if batch and price.batch_discount:
            total = total * (1 - price.batch_discount)
    return total


def _check(usage: Usage) -> None:
    counts = (
        usage.input_tokens, usage.output_tokens, usage.cached_tokens,
        usage.cache_write_5m_tokens, usage.cache_write_1h_tokens, usage.reasoning_tokens,
    )
    if min(counts) < 0:
        raise ValueError(f"usage has a negative token count: {usage}")
    if usage.uncached_input_tokens < 0:
        raise ValueError(
            "usage reports more cached and cache-write tokens than input tokens; "
            f"input_tokens must include them: {usage}"
        )


def format_usd(amount: Decimal) -> str:
    """`amount` as a plain decimal string: no exponent, no trailing zeros.

    `Decimal("0.0072500")` -> `"0.00725"`, `Decimal("1E+1")` -> `"10"`. Every
    digit of the exact value is kept (no rounding to cents), because ledger
    rows are summed later and per-call costs are often fractions of a cent.
    """
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
