"""Decisions of business logic that reach the caller as a gRPC status.

evented passes a business service's status through to its client unchanged, so
the class raised decides what the client sees:

    raise Rejected("customer already exists")   # FAILED_PRECONDITION
    raise Invalid("name is required")           # INVALID_ARGUMENT

Any other exception from a handler is a bug: the caller gets INTERNAL, prefixed
with where it happened, and the traceback is logged (logger "evented").
"""
from __future__ import annotations

import logging

import grpc

log = logging.getLogger("evented")


class Error(Exception):
    """A gRPC status with a message; the base of Rejected and Invalid.

    Raise it directly for another code: ``Error("busy", grpc.StatusCode.UNAVAILABLE)``.
    """

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, {self.message!r})"


class Rejected(Error):
    """The aggregate's state forbids the command: FAILED_PRECONDITION, nothing stored."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Invalid(Error):
    """The command is wrong whatever the state (a missing field, a negative amount): INVALID_ARGUMENT."""

    code = grpc.StatusCode.INVALID_ARGUMENT


def status_of(where: str, exc: BaseException) -> Error:
    """What the caller gets for an exception a handler raised.

    An Error passes through; so does the status of a failed gRPC call the
    handler made. Anything else is a bug in the handler: INTERNAL, prefixed with
    where, the traceback logged.
    """
    if isinstance(exc, Error):
        return exc
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return Error(exc.details() or "", exc.code())
    log.error("%s: unexpected exception", where, exc_info=exc)
    return Error(f"{where}: {type(exc).__name__}: {exc}", grpc.StatusCode.INTERNAL)


def prefixed(prefix: str, err: Error) -> Error:
    """err with its message prefixed, keeping its code."""
    return Error(f"{prefix}: {err.message}", err.code)
