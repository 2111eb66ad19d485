"""Usage of a call that ended before the provider reported it.

A client that hangs up mid-stream, or a stream the provider cuts, still cost
money: the prompt was processed and some output generated. Whatever the
provider did report is kept (Anthropic reports input and cache fields at the
start of a stream); what it did not is counted offline: the prompt with the
same counter budgets use, the output from the characters relayed so far at
the tokenizer's average of about four characters per token for English.
"""

from __future__ import annotations

import dataclasses

from fleetcost.pipeline.state import CallState
from fleetcost.pricing.tokens import count_messages
from fleetcost.providers.base import StreamTap
from fleetcost.types import Usage

CHARS_PER_TOKEN = 4


def partial_usage(state: CallState, tap: StreamTap) -> Usage:
    reported = tap.usage or Usage()
    usage = reported
    if reported.input_tokens == 0 and state.request is not None:
        req = state.request
        counted = count_messages(
            req.messages, state.upstream_model or req.model, tools=req.tools, system=req.system
        )
        usage = dataclasses.replace(usage, input_tokens=counted.tokens)
    chars = tap.partial_output_chars()
    estimated_output = -(-chars // CHARS_PER_TOKEN)
    if estimated_output > usage.output_tokens:
        usage = dataclasses.replace(usage, output_tokens=estimated_output)
    return usage
