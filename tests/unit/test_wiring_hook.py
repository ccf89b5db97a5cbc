"""The composition root's deployment-event and hook factories: built from settings once, forgotten by reset."""

from __future__ import annotations

import pytest

from handlers import wiring
from infra.idempotency import EVENT_RECEIPTS, HOOK_EXECUTIONS

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("fresh_wiring")]


def test_without_a_table_the_hook_has_no_ledger() -> None:
    assert wiring.hook_ledger() is None


def test_the_hook_and_the_events_share_the_table_in_their_own_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a table
    monkeypatch.setenv("THERMOSTAT_TABLE", "thermostat")
    wiring.reset()
    # When both stores are asked for twice
    ledger, receipts = wiring.hook_ledger(), wiring.event_receipts()
    # Then each is built once, on the table, in its namespace
    assert ledger is wiring.hook_ledger()
    assert receipts is wiring.event_receipts()
    assert ledger is not None
    assert (ledger.table_name, ledger.namespace) == ("thermostat", HOOK_EXECUTIONS)
    assert (receipts.table_name, receipts.namespace) == ("thermostat", EVENT_RECEIPTS)


def test_hook_invokers_are_shared_per_pool_size_and_built_again_after_reset() -> None:
    # Given the invoker of a five-way fan-out (the pool never smaller than 10)
    first = wiring.hook_invoker(5)
    # Then small fan-outs share it, a larger one gets its own, and a reset builds them again
    assert wiring.hook_invoker(10) is first
    assert wiring.hook_invoker(20) is not first
    wiring.reset()
    assert wiring.hook_invoker(5) is not first
