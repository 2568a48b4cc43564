from evented import evented_pb2
from shop import domains_pb2 as pb

import upcaster


def test_signed_up_becomes_created():
    req = evented_pb2.UpcastRequest(domain="customer")
    req.events.add().event.Pack(pb.CustomerSignedUp(contact="Olga Petrova <olga@example.com>"))
    out = upcaster.new().upcast(req).events[0]
    created = pb.CustomerCreated()
    assert out.schema_version == 2 and out.event.Unpack(created)
    assert (created.name, created.email) == ("Olga Petrova", "olga@example.com")


def test_split_contact():
    assert upcaster.split_contact("Cher") == ("Cher", "")
