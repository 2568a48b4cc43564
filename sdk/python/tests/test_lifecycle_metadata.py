"""Read-your-writes and replay metadata helpers."""
import pytest

import evented


def test_wait_for_metadata():
    assert evented.wait_for_metadata("receipt", "loyalty", timeout=2) == (
        ("evented-wait-for", "receipt,loyalty"),
        ("evented-wait-timeout", "2000ms"),
    )
    assert evented.wait_for_metadata("receipt") == (("evented-wait-for", "receipt"),)
    with pytest.raises(ValueError, match="without commas"):
        evented.wait_for_metadata()
    with pytest.raises(ValueError, match="above 0"):
        evented.wait_for_metadata("receipt", timeout=0)


class _Context:
    def __init__(self, md):
        self._md = md

    def invocation_metadata(self):
        return self._md


def test_replaying():
    assert evented.replaying(_Context((("evented-replay", "true"),)))
    assert not evented.replaying(_Context((("evented-new-from", "3"),)))
