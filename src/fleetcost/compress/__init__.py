"""Context compression: send less of a long conversation, without breaking it.

An agent's prompt grows every turn, and every turn pays for the whole of it
again. Compression rewrites the `messages` of a request before it goes
upstream; the system prompt and the tool definitions are never touched (byte
for byte), and the conversation stays valid for its protocol: a message that
asks for tools always keeps the results that answer it.

The unit of work is a *turn group* (`units.Unit`): the smallest run of
messages that can be dropped or replaced as a whole without orphaning a tool
call (an assistant message with the tool results that follow it; in the
Anthropic protocol an assistant turn with the user turn after it, which
also keeps user and assistant alternating). The head (system messages and
the first user message, which states the task) is always kept.

Policies (one module each) run in the configured order:

- `trim`: shorten oversized tool outputs, keeping their start and end;
- `dedupe`: replace a tool output already seen earlier by a pointer to it;
- `window`: keep the last N groups; from older ones keep only tool results
  and user corrections;
- `summary`: replace whole blocks of old groups by a cheap model's summary;
- `prune`: drop the least relevant old groups until a token budget is met.

Providers cache prompt prefixes, so a rewrite that differs every turn throws
that cache away and can cost more than it saves. `trim` and `dedupe` are pure
functions of each message and its past, so they never move the prefix;
`window` and `summary` cut in fixed blocks counted from the head, so the
rewritten prefix stays the same until a whole new block is ready, and cut a
block only when it pays for the cache it breaks (`payback`); `prune` chooses
by relevance to the latest turn and moves every turn (measured, not assumed:
see `bench/compress_bench.py`).
"""

from fleetcost.compress.engine import POLICIES, CacheRates, Knobs, Outcome, compress
from fleetcost.compress.pairing import problems

__all__ = ["POLICIES", "CacheRates", "Knobs", "Outcome", "compress", "problems"]
