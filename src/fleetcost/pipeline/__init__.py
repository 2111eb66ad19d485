"""The request path, one stage per module, in this order:

    identify  who the call is for (tenant, agent, session, task, parent)
    route     which deployment and upstream model answer it
    call      send upstream with retries (JSON, or a stream teed to the client)
    account   usage -> exact cost -> ledger record, exactly once per call

Stages still to come slot in between identify and route (guard, budget,
cache, compress); their order is fixed here and nowhere else.
"""

from fleetcost.pipeline.run import handle_chat

STAGES: tuple[str, ...] = ("identify", "route", "call", "account")

__all__ = ["STAGES", "handle_chat"]
