"""The request path, one stage per module, in this order:

    identify  who the call is for (tenant, agent, session, task, parent)
    cache     the exact response cache: a hit ends the call here, for free
    compress  context policies shorten a long conversation (off by default)
    route     which deployment and upstream model answer it
    call      send upstream with retries (JSON, or a stream teed to the client)
    account   usage -> exact cost -> ledger record, exactly once per call

Stages still to come slot in around them (guard and budget before the
cache); their order is fixed here and nowhere else.
"""

from fleetcost.pipeline.run import handle_chat

STAGES: tuple[str, ...] = ("identify", "cache", "compress", "route", "call", "account")

__all__ = ["STAGES", "handle_chat"]
