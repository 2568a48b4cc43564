"""Aggregate ids: covers and name-based roots, the same in every language."""
from __future__ import annotations

import dataclasses
import re
import uuid

import grpc

from . import evented_pb2 as pb
from .errors import Error

_HEX = "[0-9a-fA-F]"
_CANONICAL = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
# The forms Go's uuid.Parse and evented's CLI accept, no others.
_UUID_FORMS = re.compile(rf"^(?:{_CANONICAL}|\{{{_CANONICAL}\}}|(?i:urn:uuid:){_CANONICAL}|{_HEX}{{32}})$")


def root(name: str) -> uuid.UUID:
    """The aggregate root a name stands for.

    A name that is a UUID ("2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f", with or
    without braces or the urn:uuid: prefix, or 32 hex digits) is that UUID; any
    other string ("cust-001") maps to the name-based UUID (version 5) of
    "evented:" + name in the URL namespace — the same as Go's sdk.Root, Rust's
    evented::root and evented's CLI:

    >>> str(root("cust-001"))
    'bee85a38-babe-5251-8d7d-f8a8ed93ed9c'
    """
    if _UUID_FORMS.match(name):
        return uuid.UUID(name[9:] if len(name) == 45 else name)
    return uuid.uuid5(uuid.NAMESPACE_URL, "evented:" + name)


@dataclasses.dataclass(frozen=True)
class Cover:
    """The address of one aggregate: its domain and root."""

    domain: str
    root: uuid.UUID

    @classmethod
    def of(cls, domain: str, name: str) -> Cover:
        """The cover of the aggregate name stands for (see root)."""
        return cls(domain, root(name))

    def __str__(self) -> str:
        return f"{self.domain}/{self.root}"

    def to_pb(self) -> pb.Cover:
        return pb.Cover(domain=self.domain, root=pb.UUID(value=self.root.bytes))

    @classmethod
    def from_pb(cls, c: pb.Cover | None, field: str = "cover") -> Cover:
        """Validates a wire cover; errors (INVALID_ARGUMENT) name field."""
        if c is None:
            raise Error(f"{field}: missing", grpc.StatusCode.INVALID_ARGUMENT)
        if not c.domain:
            raise Error(f"{field}.domain: must not be empty", grpc.StatusCode.INVALID_ARGUMENT)
        value = c.root.value
        if len(value) != 16:
            raise Error(f"{field}.root.value: must be exactly 16 bytes, got {len(value)}", grpc.StatusCode.INVALID_ARGUMENT)
        return cls(c.domain, uuid.UUID(bytes=bytes(value)))
