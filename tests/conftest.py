"""Fixtures shared by every test layer.

* ``aws_env``: fake credentials and a region, and no real endpoint can be reached by accident.
* ``moto_aws``: moto in-process (``mock_aws``) for adapter tests.
* ``moto_server``: moto's threaded HTTP server on 127.0.0.1 (one per session), reached through
  ``AWS_ENDPOINT_URL`` exactly as the local stack reaches it.
* ``table``: the thermostat table, created in whichever of the two is active.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REGION = "us-east-1"


def _fresh_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_", "THERMOSTAT_", "_X_AMZN")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Clients built for an earlier test came from a session made under that test's environment
    # (and perhaps before moto was loaded, so without its interception): start from nothing.
    from handlers import wiring

    wiring.reset()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, a fixed region, no endpoint overrides, no Lambda variables."""
    _fresh_aws_environment(monkeypatch)
    from infra.settings import get_settings

    get_settings.cache_clear()


@pytest.fixture
def moto_aws(aws_env: None) -> Iterator[None]:
    """moto in-process for the duration of one test."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """One moto threaded server for the session, on a free port of 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_server(aws_env: None, moto_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point every client at the moto server, and reset its state after the test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server_url)
    yield moto_server_url
    import urllib.request

    request = urllib.request.Request(f"{moto_server_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def table_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """A unique table name, exported as THERMOSTAT_TABLE."""
    name = f"thermostat-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("THERMOSTAT_TABLE", name)
    from infra.settings import get_settings

    get_settings.cache_clear()
    return name


@pytest.fixture
def table(table_name: str) -> str:
    """The thermostat table, created in moto (use with ``moto_aws`` or ``moto_server``)."""
    from infra.table import create_table

    create_table(table_name, REGION)
    return table_name


@pytest.fixture
def fresh_observability(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A new control-plane Logger and Metrics for one test (service and namespace for tests)."""
    from infra import observability

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "thermostat-test")
    monkeypatch.setenv("THERMOSTAT_METRICS_NAMESPACE", "ThermostatTest")
    from infra.settings import get_settings

    get_settings.cache_clear()
    observability.get_logger.cache_clear()
    observability.get_metrics.cache_clear()
    yield
    observability.get_metrics().clear_metrics()
    observability.get_logger.cache_clear()
    observability.get_metrics.cache_clear()


@pytest.fixture
def fresh_wiring(aws_env: None) -> Iterator[None]:
    """The composition root's cached factories forgotten before and after one test."""
    from handlers import wiring

    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture
def fresh_ref_clients() -> Iterator[None]:
    """The runtime module caches its S3 clients per endpoint: start and end each test without them."""
    from thermostat_runtime.refs import clear_client_cache

    clear_client_cache()
    yield
    clear_client_cache()
