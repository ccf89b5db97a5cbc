"""`thermostat local put-event`: what it accepts, and what it refuses (with what to do)."""

from __future__ import annotations

import json

import pytest

from domain.errors import InvalidInput
from handlers.cli.local import _as_entry

pytestmark = pytest.mark.unit


def test_an_eventbridge_envelope_becomes_a_put_events_entry() -> None:
    entry = _as_entry(
        {
            "source": "thermostat.deployments",
            "detail-type": "Deployment Requested",
            "detail": {"project": "p"},
            "resources": ["arn:x"],
        }
    )
    assert entry == {
        "Source": "thermostat.deployments",
        "DetailType": "Deployment Requested",
        "Detail": json.dumps({"project": "p"}),
        "Resources": ["arn:x"],
    }


def test_a_put_events_entry_passes_unchanged() -> None:
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}"}
    assert _as_entry(entry) == entry


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must hold a JSON object"),
        ({"source": "s", "detail": {}}, "missing ['detail-type']"),
        ({"detail-type": "d"}, "missing ['source', 'detail']"),
    ],
)
def test_malformed_events_say_what_is_missing(document: object, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _as_entry(document)
    assert message in str(caught.value)
