"""Usage of a call the provider did not report.

A client that hangs up mid-stream, or a stream the provider cuts, still cost
money: the prompt was processed and some output generated. Whatever the
provider did report is kept (Anthropic reports input and cache fields at the
start of a stream); what it did not is counted offline: the prompt with the
same counter budgets use, the output from the characters relayed so far at
the tokenizer's average of about four characters per token for English.

A response that finished but carried no usage at all (some OpenAI-compatible
hosts omit it) is estimated the same way, except that a whole JSON answer's
text is at hand, so its output is counted with the token counter itself.
Either way the call is flagged (`usage_source = "estimated"`): the figure is
the honest one, but it is not the provider's.
"""

from __future__ import annotations

import dataclasses

from fleetcost.pipeline.state import CallState
from fleetcost.pricing.tokens import count_messages, count_text
from fleetcost.providers.base import Answer, StreamTap
from fleetcost.types import Usage

CHARS_PER_TOKEN = 4


def _prompt_tokens(state: CallState) -> int:
    if state.request is None:
        return 0
    req = state.request
    return count_messages(
        req.messages, state.upstream_model or req.model, tools=req.tools, system=req.system
    ).tokens


def answer_usage(state: CallState, answer: Answer) -> Usage:
    """A whole answer without usage: prompt and answer counted offline."""
    state.usage_estimated = True
    model = state.upstream_model or (state.request.model if state.request else "")
    output = count_text(answer.text + answer.tool_text, model).tokens
    return Usage(input_tokens=_prompt_tokens(state), output_tokens=output)


def partial_usage(state: CallState, tap: StreamTap) -> Usage:
    state.usage_estimated = True
    reported = tap.usage or Usage()
    usage = reported
    if reported.input_tokens == 0:
        usage = dataclasses.replace(usage, input_tokens=_prompt_tokens(state))
    chars = tap.partial_output_chars()
    estimated_output = -(-chars // CHARS_PER_TOKEN)
    if estimated_output > usage.output_tokens:
        usage = dataclasses.replace(usage, output_tokens=estimated_output)
    return usage
