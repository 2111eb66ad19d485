"""Errors that cross layers.

Each carries what a handler needs to answer in the client's own protocol:
the HTTP status, an error type, and (for bad requests) the offending field.
Wire adapters turn them into OpenAI or Anthropic error bodies.
"""

from __future__ import annotations


class FleetcostError(Exception):
    status: int = 500
    error_type: str = "api_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class BadRequest(FleetcostError):
    """The client's request is malformed; `param` names the field."""

    status = 400
    error_type = "invalid_request_error"


class NotFound(FleetcostError):
    status = 404
    error_type = "not_found_error"


class AuthError(FleetcostError):
    status = 401
    error_type = "authentication_error"


class UpstreamError(FleetcostError):
    """The provider answered with an error (or not at all) after retries.

    `body` is the provider's own error body when there was one, passed back
    to the client unchanged because it already speaks the client's protocol.
    """

    error_type = "api_error"

    def __init__(
        self, message: str, *, status: int = 502, body: bytes | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retryable = retryable


class BudgetExceeded(FleetcostError):
    status = 429
    error_type = "budget_exceeded"


class LoopDetected(FleetcostError):
    status = 429
    error_type = "loop_detected"


class ConfigError(FleetcostError):
    """The configuration file is invalid; raised at startup, never per call."""
