"""The trained router as a policy: a file `fleetcost router train` wrote.

The router estimates the probability that the weak model's answer is good
enough; it picks weak at or above its threshold (or by the configured
willingness to pay). Loading happens once at startup; the module that reads
the file is imported lazily so a gateway without `[routing.trained]` never
pays for it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from fleetcost.errors import ConfigError
from fleetcost.routing.base import Decision, RouteInput, Target
from fleetcost.routing.config import TrainedConfig


def load(cfg: TrainedConfig) -> Any:
    try:
        module = importlib.import_module("fleetcost.routing.trained")
    except ImportError as exc:
        raise ConfigError("routing.trained needs fleetcost.routing.trained, which this "
                          "installation lacks") from exc
    path = Path(cfg.path)
    if not path.exists():
        raise ConfigError(f"routing.trained.path {path} does not exist; write it with "
                          "`fleetcost router train DATA --out ROUTER`")
    return module.load_router(path)


class TrainedPolicy:
    name = "trained"

    def __init__(self, cfg: TrainedConfig, router: Any | None = None) -> None:
        self._router = router if router is not None else load(cfg)
        self._wtp = cfg.willingness_to_pay

    async def decide(self, request: RouteInput) -> Decision:
        return self.choose(request.text)

    def choose(self, prompt: str) -> Decision:
        router = self._router
        p = router.prob_weak_ok(prompt)
        tier: Target
        if self._wtp is None:
            tier = "weak" if p >= router.threshold else "strong"
        else:
            choice = router.route(prompt, willingness_to_pay=self._wtp)
            tier = "weak" if choice in (router.weak_model, "weak") else "strong"
        knob = f"wtp {self._wtp}" if self._wtp is not None else f"threshold {router.threshold:.2f}"
        return Decision(tier, "trained", f"p(weak ok)={p:.2f}, {knob}")
