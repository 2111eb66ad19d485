"""Entry point of the `fleetcost` command.

Each command group lives in its own module exposing `register(subparsers)`;
the module is imported only when its command runs, so `fleetcost count`
does not pay for the server stack's imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fleetcost.errors import FleetcostError

# command name -> module under fleetcost.cli, and a one-line help.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("serve", "run the gateway"),
    "emulate": ("emulate", "run the provider emulator (OpenAI + Anthropic wire protocols)"),
    "demo": ("demo", "replay a realistic fleet through emulator + gateway, print the costs"),
    "calls": ("calls", "list recorded calls from the ledger"),
    "report": ("report", "spend and savings by agent, task, model, tenant, session or day"),
    "doctor": ("doctor", "diagnose the ledger: unpriced models, errors, waste"),
    "prices": ("prices", "show or import the price catalog"),
    "count": ("count", "count the tokens of a text or a messages JSON"),
    "budgets": ("budgets", "budgets: spent/reserved/remaining, `suggest` limits, `caps` report"),
    "eval": ("eval", "offline evaluations: `eval cache PAIRS` for the semantic cache"),
    "simulate": ("simulate", "fleet cost model: cost after each lever, spread, break-even"),
    "replay": ("replay", "re-run recorded traffic with another policy; CI cost gate"),
    "router": ("router", "train a router file: `router train DATA --out ROUTER`"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetcost", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        if wanted is None or wanted not in COMMANDS or wanted == name:
            mod = importlib.import_module(f"fleetcost.cli.{module}")
            mod.register(sub, name, help_text)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FleetcostError as exc:
        print(f"fleetcost: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `fleetcost prices | head`: the reader left; exit quietly like other CLI tools.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
