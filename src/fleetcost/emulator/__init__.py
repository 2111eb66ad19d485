"""A local stand-in for the OpenAI and Anthropic APIs.

The emulator is a real HTTP server that speaks both wire protocols (chat
completions and messages, JSON and SSE) and follows their documented billing
behaviour: usage fields, OpenAI's automatic prefix caching, Anthropic's
explicit `cache_control` breakpoints with 5-minute and 1-hour TTLs. Its
answers are a pure function of the request and a seed, its latency is zero or
modelled per model, and it can inject faults. Tests, the demo and the
benchmarks use it as the gateway's upstream; `GET /emulator/stats` says what
it served so a test can audit the gateway's ledger against it.

`create_app(settings)` builds the ASGI application; `fleetcost emulate`
serves it.
"""

from fleetcost.emulator.app import EmulatorApp, create_app
from fleetcost.emulator.core import Emulator
from fleetcost.emulator.settings import EmulatorSettings, parse_faults

__all__ = ["Emulator", "EmulatorApp", "EmulatorSettings", "create_app", "parse_faults"]
