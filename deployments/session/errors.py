"""Canonical status codes and the typed stream error (re-exported by ``ingress.service``)."""

from __future__ import annotations

from enum import StrEnum


class StatusCode(StrEnum):
    """Canonical status codes (gRPC names; HTTP maps them to 400/429/504/401/404/503/500)."""

    OK = "OK"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    NOT_FOUND = "NOT_FOUND"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


class ServiceError(Exception):
    """A stream error with its canonical code.

    Attributes:
        code: the :class:`StatusCode`.
        message: what went wrong and the fix.
    """

    def __init__(self, code: StatusCode | str, message: str) -> None:
        super().__init__(message)
        self.code = StatusCode(code)
        self.message = message

    def __reduce__(self) -> tuple:
        return (ServiceError, (self.code.value, self.message))
