"""Pure wire adapters, one module per upstream protocol.

An adapter knows how a protocol spells requests, responses, streams, usage
and errors. It does no I/O: the pipeline owns the HTTP client, timeouts and
retries. `registry.get(kind)` is the only way the rest of the code reaches an
adapter, so no module outside this package branches on a provider's name.
"""
