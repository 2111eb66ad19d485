"""The request path, one stage per module, in this order:

    identify  who the call is for (tenant, agent, session, task, parent)
    guard     step caps, wall clock, runaway-loop detection; output/input caps
    budget    reserve the worst case on every matching budget (settled by account)
    cache     the exact response cache: a hit ends the call here, for free
    compress  context policies shorten a long conversation (off by default)
    route     which deployment and upstream model answer it
    call      send upstream with retries (JSON, or a stream teed to the client)
    account   usage -> exact cost -> ledger record, exactly once per call

Their order is fixed here and nowhere else.
"""

from fleetcost.pipeline.run import handle_chat

STAGES: tuple[str, ...] = (
    "identify", "guard", "budget", "cache", "compress", "route", "call", "account",
)

__all__ = ["STAGES", "handle_chat"]
