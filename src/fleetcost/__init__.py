"""fleetcost: a cost-control gateway for fleets of LLM agents."""

__version__ = "0.1.0"
