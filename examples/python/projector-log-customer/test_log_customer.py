import io
import json

import evented
from evented import testing
from shop import domains_pb2 as pb

import log_customer


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_logs_each_event():
    out = io.StringIO()
    (testing.projector(lambda **o: log_customer.new(out, **o)).for_aggregate("customer", "customer-1")
        .when(pb.CustomerCreated(name="Alice", email="alice@example.com"))
        .then_handled())
    (line,) = lines(out)
    assert line["msg"] == "event" and line["projector"] == "log-customer" and line["domain"] == "customer"
    assert line["type"] == "examples.CustomerCreated" and line["root"] == str(evented.root("customer-1")) and line["sequence"] == 0
    assert line["event"] == {"name": "Alice", "email": "alice@example.com"}


def test_one_line_per_new_event():
    out = io.StringIO()
    (testing.projector(lambda **o: log_customer.new(out, **o)).for_aggregate("customer", "cust-001")
        .given(pb.CustomerCreated(name="Alice"))
        .when(pb.LoyaltyPointsAdded(points=45, new_balance=45), pb.LoyaltyPointsRedeemed(points=5, new_balance=40))
        .then_handled())
    got = [(line["type"], line["sequence"], line["event"]["points"]) for line in lines(out)]
    assert got == [("examples.LoyaltyPointsAdded", 1, 45), ("examples.LoyaltyPointsRedeemed", 2, 5)]
    assert {line["root"] for line in lines(out)} == {"bee85a38-babe-5251-8d7d-f8a8ed93ed9c"}


def test_unknown_event_types_are_logged_by_name():
    out = io.StringIO()
    p = log_customer.new(out)
    book = evented.evented_pb2.EventBook(cover=evented.Cover.of("customer", "c").to_pb())
    page = book.pages.add(num=4)
    page.event.type_url, page.event.value = "type.googleapis.com/other.Thing", b"\x08\x01"
    p.handle_events(book)
    (line,) = lines(out)
    assert (line["type"], line["bytes"], line["sequence"]) == ("other.Thing", 2, 4) and "event" not in line
