import pytest

import evented


def test_idempotency_metadata():
    assert evented.idempotency_metadata("order-42/pay") == (("idempotency-key", "order-42/pay"),)


@pytest.mark.parametrize("key", ["", "k" * 257, "tab\there", "naïve"])
def test_idempotency_metadata_refuses_what_evented_would(key):
    with pytest.raises(ValueError, match="printable ASCII"):
        evented.idempotency_metadata(key)
