"""What a handler's cold start pays: one botocore session per process, shared by pynamodb, no boto3, nothing unused.

pynamodb would give every record model (and every thread) a botocore session of its own, each
loading the endpoint and service data again; ``infra.table`` builds the models' clients from
``infra.aws``'s session instead, under the same lock, because botocore's ``create_client`` is
not thread-safe on one session. No test here times anything: they check what is built, and how.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pynamodb.attributes import UnicodeAttribute

from infra import aws
from infra.table import TableModel, bind_table
from tests.benches import run_bench

pytestmark = pytest.mark.unit

THREADS = 32


class ColdRecordA(TableModel):
    note = UnicodeAttribute(null=True)


class ColdRecordB(TableModel):
    note = UnicodeAttribute(null=True)


class KeyedRecord(TableModel):
    """A model with credentials of its own: they must stay out of the shared session."""

    class Meta(TableModel.Meta):
        aws_access_key_id = "AKIDKEYEDRECORD"
        aws_secret_access_key = "keyed-secret"

    note = UnicodeAttribute(null=True)


@pytest.fixture
def fresh_models(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table of its own, and no connection cached on the models this module uses."""
    bind_table(f"cold-init-{uuid.uuid4().hex[:8]}", "us-east-1")
    for model in (TableModel, ColdRecordA, ColdRecordB, KeyedRecord):
        monkeypatch.setattr(model, "_connection", None)


class CreateClientSpy:
    """Wraps the shared session's ``create_client``: counts calls and notices two at once."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self._original = original
        self._lock = threading.Lock()
        self._inside = 0
        self.services: list[str] = []
        self.overlapped = False

    def __call__(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._inside += 1
            self.overlapped = self.overlapped or self._inside > 1
        try:
            time.sleep(0.005)  # widen the window in which an unlocked second builder would overlap
            client = self._original(service_name, *args, **kwargs)
            with self._lock:
                self.services.append(service_name)
            return client
        finally:
            with self._lock:
                self._inside -= 1


def test_a_record_model_builds_its_client_from_the_shared_session(
    fresh_models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pynamodb's own session factory made unusable
    import pynamodb.connection.base as pynamodb_base

    def no_private_session() -> None:
        raise AssertionError("pynamodb built a botocore session of its own")

    monkeypatch.setattr(pynamodb_base, "get_session", no_private_session)

    # When a model's client is built
    connection = ColdRecordA._get_connection().connection
    client = connection.client

    # Then it came from infra.aws's session, in the bound region, and is reused afterwards
    assert connection.session is aws.botocore_session()
    assert client.meta.region_name == "us-east-1"
    assert connection.client is client
    assert ColdRecordA._get_connection().connection is connection


def test_32_threads_build_each_client_once_and_never_two_at_a_time(
    fresh_models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a spy on the shared session's create_client, and 32 threads released together
    session = aws.botocore_session()
    spy = CreateClientSpy(session.create_client)
    monkeypatch.setattr(session, "create_client", spy)
    start = threading.Barrier(THREADS)

    def first_request(index: int) -> tuple[str, int]:
        start.wait(timeout=30)
        if index % 4 == 3:
            return "s3", id(aws.client("s3"))  # an unrelated client, built by infra.aws meanwhile
        model = ColdRecordA if index % 2 else ColdRecordB
        return model.__name__, id(model._get_connection().connection.client)

    # When they all build the client their first request needs
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        threads_done = list(pool.map(first_request, range(THREADS), timeout=60))

    # Then each model got one client, shared by its threads, and no two clients were built at once
    assert len(threads_done) == THREADS
    per_model = {
        name: {client for seen, client in threads_done if seen == name} for name in ("ColdRecordA", "ColdRecordB")
    }
    assert all(len(clients) == 1 for clients in per_model.values())
    assert sorted(spy.services) == sorted(["dynamodb", "dynamodb"] + ["s3"] * (THREADS // 4))
    assert not spy.overlapped


def test_credentials_set_on_a_model_stay_out_of_the_shared_session(fresh_models: None) -> None:
    # Given a model whose Meta carries credentials of its own, and the shared session's credentials
    shared_before = aws.botocore_session().get_credentials()
    assert shared_before is not None

    # When its client is built
    connection = KeyedRecord._get_connection().connection
    keyed = connection.client._request_signer._credentials

    # Then they sign its requests, on a session of its own, and the shared session's are untouched
    assert connection.session is not aws.botocore_session()
    assert keyed.access_key == "AKIDKEYEDRECORD"
    shared_after = aws.botocore_session().get_credentials()
    assert shared_after is not None
    assert shared_after.access_key == shared_before.access_key != "AKIDKEYEDRECORD"


# -- the handlers' cold path, in a fresh interpreter --------------------------------------------

HANDLERS = ("deployment_events", "keep_warm", "pre_traffic", "sweeper")


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_reads_nothing_at_import_and_its_first_invocation_builds_only_what_it_uses(
    handler: str, tmp_path: Path
) -> None:
    # Given the cold-init benchmark's first invocation: a fresh interpreter, fake credentials, the
    # handler's sample event from serverless/events/, against the local stack (moto, a simulated
    # Lambda, the local CodeDeploy)
    # When the handler is imported, then invoked once
    done = run_bench("cold_init", workdir=tmp_path, args={"facts_only": True, "handlers": [handler]})

    # Then the import built no session and read no settings, the invocation answered on one botocore
    # session without boto3, and loaded nothing that must stay off the cold path (the report's models,
    # the sharded round's plan, the log readers, the CLI, the local stack)
    assert done.returncode == 0, done.stderr
    seen = done.figures["cold_init"]["import_facts"][handler]
    assert {key: seen[key] for key in ("sessions", "settings_read", "boto3", "sessions_after", "answered")} == {
        "sessions": 0,
        "settings_read": 0,
        "boto3": False,
        "sessions_after": 1,
        "answered": True,
    }
    assert seen["off_the_cold_path_loaded"] == []
    if handler == "pre_traffic":
        assert seen["status"] == "Succeeded"  # the warm-up passed: the path every healthy deploy takes
    # And every pydantic model of ours whose schema it built was used (validated, serialised, or a field
    # of one that was), but for those the benchmark names with the reason they stay
    assert seen["models_used"] > 0
    assert seen["models_unused_unexplained"] == []
