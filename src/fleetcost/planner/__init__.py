"""Planning: the fleet cost model, sweeps, break-even, counterfactual replay.

The cost model (`model`) is the seed's multiplicative product
`C = R x S x (t_in p_in + t_out p_out)` with the levers applied in the order
a workload file declares them; it runs in exact decimals for the expected
cost and by seeded Monte Carlo for the spread per task. Replay (`replay`)
re-runs recorded traffic through the real gateway with another policy.
"""
