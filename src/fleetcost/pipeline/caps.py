"""Per-task output and input caps, and the prompt count guards and budgets share.

An output cap clamps the request's `max_tokens` (or sets one when the
client sent none): it is the cheapest lever against a task whose answers run
long, and it bounds the budget reservation. An input cap refuses a turn
whose prompt is larger than the task should ever need (a context that grows
without bound). Calls whose output came within 5% of their cap are listed by
`fleetcost budgets caps` from the ledger: a sign the cap or the prompt is
wrong.
"""

from __future__ import annotations

from fleetcost.config import GuardLimits, GuardsConfig
from fleetcost.errors import BadRequest
from fleetcost.pipeline.state import CallState
from fleetcost.pipeline.token_memo import TokenMemo
from fleetcost.pricing.tokens import TokenCount

# Body keys that bound a reply's length in the two chat protocols; when a
# request carries none, the protocol that makes it optional takes the first.
MAX_TOKENS_KEYS = ("max_completion_tokens", "max_tokens")


def limits_for(guards: GuardsConfig, task: str | None) -> GuardLimits:
    """The task's own limits over the defaults (a key unset for the task inherits)."""
    override = guards.tasks.get(task) if task else None
    if override is None:
        return guards
    return guards.model_copy(update=override.model_dump(exclude_none=True))


def prompt_count(state: CallState, memo: TokenMemo) -> TokenCount:
    """Count the prompt once per call, whichever stage asks first."""
    if state.prompt_count is None:
        req = state.request
        assert req is not None
        state.prompt_count = memo.count(req.messages, req.model, req.tools, req.system)
    return state.prompt_count


def clamp_max_tokens(state: CallState, cap: int) -> None:
    """Lower (never raise) the request's output bound to `cap`."""
    req = state.request
    assert req is not None
    if req.max_tokens is not None and req.max_tokens <= cap:
        return
    body = req.body
    present = [k for k in MAX_TOKENS_KEYS if k in body and body[k] is not None]
    for key in present or MAX_TOKENS_KEYS[:1]:
        body[key] = cap
    req.max_tokens = cap


def apply_caps(state: CallState, limits: GuardLimits, memo: TokenMemo) -> None:
    if limits.max_output_tokens is not None:
        clamp_max_tokens(state, limits.max_output_tokens)
    if limits.max_input_tokens is not None:
        tokens = prompt_count(state, memo).tokens
        if tokens > limits.max_input_tokens:
            raise BadRequest(
                f"the prompt has about {tokens} tokens, over the per-turn input cap of "
                f"{limits.max_input_tokens} for task {state.identity.task_type or '(none)'}; "
                "shorten the context", param="messages")
