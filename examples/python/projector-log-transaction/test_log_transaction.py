import io
import json

import evented
from evented import testing
from shop import domains_pb2 as pb

import log_transaction


def test_logs_each_event():
    out = io.StringIO()
    completed = pb.TransactionCompleted(final_total_cents=4500, payment_method="card", loyalty_points_earned=45)
    completed.completed_at.FromDatetime(testing.NOW)
    (testing.projector(lambda **o: log_transaction.new(out, **o)).for_aggregate("transaction", "txn-1")
        .given(pb.TransactionCreated(customer_id="c", subtotal_cents=4500))
        .when(completed)
        .then_handled())
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["projector"] == "log-transaction" and line["domain"] == "transaction" and line["sequence"] == 1
    assert line["type"] == "examples.TransactionCompleted" and line["root"] == str(evented.root("txn-1"))
    # protobuf's JSON form: lowerCamelCase names, RFC 3339 times.
    assert line["event"] == {
        "finalTotalCents": 4500, "paymentMethod": "card", "loyaltyPointsEarned": 45, "completedAt": "2026-03-01T12:00:00Z",
    }
