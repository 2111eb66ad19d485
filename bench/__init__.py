"""Benchmarks for the fleetcost gateway: `python -m bench.run --help`.

Every scenario measures the emulator directly and through the gateway in the
same run, with the same request mix, so that the gateway's cost is read as a
difference between two distributions measured under the same conditions on
the same (small, shared) machine, never against a number from elsewhere.
"""
