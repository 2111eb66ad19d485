"""`fleetcost serve`: run the gateway (one process, uvicorn + uvloop + httptools)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from fleetcost.errors import ConfigError


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--config", help="fleetcost.toml (default: $FLEETCOST_CONFIG or built-ins)")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 4000)")
    p.add_argument("--upstream", action="append", default=[], metavar="NAME=URL",
                   help="point provider NAME at URL (repeatable), e.g. openai=http://127.0.0.1:4100")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)


def parse_upstreams(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ConfigError(f"--upstream {value!r}: write it as NAME=http://host:port")
        out[name] = url
    return out


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from fleetcost.config import load_settings
    from fleetcost.server.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config).with_upstreams(parse_upstreams(args.upstream))
    app = create_app(settings)
    uvicorn.run(
        app, host=args.host or settings.server.host, port=args.port or settings.server.port,
        loop="uvloop", http="httptools", lifespan="on", access_log=False,
        log_level=args.log_level, timeout_graceful_shutdown=30,
        # Each saves a little per request; the gateway sets its own headers.
        proxy_headers=False, server_header=False, date_header=False,
    )
    return 0
