"""The customer domain's upcaster: the first version of the shop stored
sign-ups as CustomerSignedUp, name and email in one contact line; evented
reads them as CustomerCreated (schema version 2) through this step, so the
aggregate and every projector only know CustomerCreated. Stored events are
not rewritten."""
from __future__ import annotations

import evented
from shop import domains_pb2 as pb


def split_contact(contact: str) -> tuple[str, str]:
    """"Alice <alice@example.com>" -> ("Alice", "alice@example.com"); a
    contact without <...> is a name alone."""
    name, sep, rest = contact.partition("<")
    if not sep:
        return contact.strip(), ""
    return name.strip(), rest.partition(">")[0].strip()


def new() -> evented.Upcaster:
    up = evented.Upcaster("customer")

    @up.step(pb.CustomerSignedUp, from_version=1, to=pb.CustomerCreated)
    def signed_up(old: pb.CustomerSignedUp) -> pb.CustomerCreated:
        name, email = split_contact(old.contact)
        created = pb.CustomerCreated(name=name, email=email)
        if old.HasField("signed_up_at"):
            created.created_at.CopyFrom(old.signed_up_at)
        return created

    return up
