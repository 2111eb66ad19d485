"""Routing: which model should answer a request, learned and measured offline.

`data` reads labelled per-query results, `metrics` scores a policy's
cost-quality curve, `trained` is the router file the gateway loads,
`answer_gate` scores a cheap answer for a cascade, `evaluate` ties them
together for `fleetcost eval router`.
"""
