"""Routing: which model answers a call, and how well each policy does it.

Online (the gateway): policies (rules, a trained router, an LLM-as-router, a
cascade) choose a tier; the router turns the tier into an ordered plan of
deployments (the tier's model and its fallbacks), filtered by what the
request needs and by where the tenant's data may go. Nothing here talks to
the network: calls the policies need (the LLM router, cascade gates) go
through callables the pipeline hands in.

Offline: `data` reads labelled per-query results, `metrics` scores a policy's
cost-quality curve, `trained` is the router file the gateway loads,
`answer_gate` scores a cheap answer for a cascade, `evaluate` ties them
together for `fleetcost eval router`.
"""
