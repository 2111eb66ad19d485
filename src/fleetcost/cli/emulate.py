"""`fleetcost emulate`: serve the OpenAI + Anthropic emulator on loopback.

Point an SDK or the gateway at it: OpenAI clients at `http://HOST:PORT/v1`,
Anthropic clients at `http://HOST:PORT`. Any API key is accepted.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from fleetcost.errors import ConfigError

# uvicorn reports a response the app abandoned; for the emulator that is the
# `cut-stream` fault doing its job, not an error worth a log line.
_CUT_MESSAGE = "ASGI callable returned without completing response."


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4100, help="port (default 4100)")
    p.add_argument("--latency", choices=["zero", "realistic"], default="zero",
                   help="zero: answer at once; realistic: per-model time to first token "
                        "and tokens per second")
    p.add_argument("--faults", default="", metavar="SPEC",
                   help='fault rates, e.g. "429:0.05,500:0.02,timeout:0.01,cut-stream:0.01"')
    p.add_argument("--seed", type=int, default=0, help="seed for answers and faults (default 0)")
    p.add_argument("--timeout-seconds", type=float, default=600.0,
                   help="how long a `timeout` fault hangs before answering (default 600)")
    p.add_argument("--retry-after", type=int, default=1,
                   help="retry-after seconds sent with a 429 fault (default 1)")
    p.add_argument("--openai-cache-ttl", type=float, default=300.0,
                   help="seconds an OpenAI cached prefix lives after its last use (default 300)")
    p.add_argument("--cache-ttl-5m", type=float, default=300.0,
                   help="seconds an Anthropic ttl=5m entry lives (default 300)")
    p.add_argument("--cache-ttl-1h", type=float, default=3600.0,
                   help="seconds an Anthropic ttl=1h entry lives (default 3600)")
    p.add_argument("--output-median", type=float, default=150.0,
                   help="median output length in tokens (default 150)")
    p.add_argument("--output-sigma", type=float, default=0.6,
                   help="lognormal sigma of output length; 0 = always the median (default 0.6)")
    p.add_argument("--batch-delay", type=float, default=1.0,
                   help="seconds before a batch's results are ready (default 1)")
    p.add_argument("--omit-usage", action="store_true",
                   help="leave usage out of every answer, like OpenAI-compatible hosts that "
                        "omit it (one request: header `X-Emulator-Usage: omit`)")
    p.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> Any:
    from fleetcost.emulator import EmulatorSettings, parse_faults

    try:
        return EmulatorSettings(
            seed=args.seed, latency=args.latency, faults=parse_faults(args.faults),
            fault_timeout_seconds=args.timeout_seconds, retry_after_seconds=args.retry_after,
            openai_cache_ttl=args.openai_cache_ttl, anthropic_ttl_5m=args.cache_ttl_5m,
            anthropic_ttl_1h=args.cache_ttl_1h, output_median=args.output_median,
            output_sigma=args.output_sigma, batch_delay_seconds=args.batch_delay,
            omit_usage=args.omit_usage,
        )
    except ValueError as exc:
        raise ConfigError(f"{exc}.") from None


class _DropCutStreamNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _CUT_MESSAGE


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from fleetcost.emulator import create_app

    app = create_app(settings_from(args))
    logging.getLogger("uvicorn.error").addFilter(_DropCutStreamNotice())
    uvicorn.run(
        app, host=args.host, port=args.port, loop="uvloop", http="httptools",
        lifespan="off", access_log=False, log_level="warning", timeout_graceful_shutdown=5,
    )
    return 0
