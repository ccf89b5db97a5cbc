"""A probe's result through the local Lambda runner: the reply must marshal, whatever the probe returned.

The runner runs the real handler code (``tests/functions/odd_probe.py``) in a worker process and
marshals its result as Lambda's Python runtime does: a value JSON cannot encode is Lambda's
``Runtime.MarshalError``, a function error. Returned as is, such a probe result turned the whole
ping reply into that error, and the pre-traffic hook saw a crash instead of the probe's verdict.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from emulator.lambda_runner import FunctionSpec, LambdaRunner
from tests.functions.odd_probe import VALUES
from thermostat_runtime import build_request, parse_reply

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def lam() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        # What the aws_env fixture sets, for a module-wide runner: fake credentials, no real endpoint.
        for name in list(os.environ):
            if name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_", "THERMOSTAT_", "_X_AMZN")):
                patch.delenv(name)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }.items():
            patch.setenv(name, value)
        with LambdaRunner(idle_timeout_s=60.0) as runner:
            for kind in VALUES:
                runner.add_function(
                    FunctionSpec(
                        name=f"odd-{kind}",
                        handler="tests.functions.odd_probe.handler",
                        code_paths=(ROOT,),
                        environment={"PROBE_RETURNS": kind},
                        timeout_s=30,
                    )
                )
            yield boto3.client(
                "lambda",
                endpoint_url=runner.url,
                region_name="us-east-1",
                config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=30),
            )


def invoke(lam: Any, name: str, event: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    return response, json.loads(response["Payload"].read())


def test_the_runner_answers_an_unencodable_result_with_lambdas_marshal_error(lam: Any) -> None:
    # Given the oracle's behaviour: an ordinary invocation whose handler returns a set
    response, error = invoke(lam, "odd-set", {"return": "set"})

    # Then it is a function error, Runtime.MarshalError, as Lambda answers it
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"].startswith("Unable to marshal response")


def test_the_runner_marshals_an_ordinary_decimal_result_as_lambda_does(lam: Any) -> None:
    # DynamoDB's numbers come back from boto3's resource API as Decimals: Lambda writes them as numbers
    response, result = invoke(lam, "odd-decimal", {"return": "decimal"})

    assert "FunctionError" not in response, result
    assert result == {"count": 3, "ratio": 0.25}


ENCODED = {
    "datetime": {"checked_at": "2026-12-02T07:53:45.120000+00:00", "day": "2026-12-02", "at": "07:53:00"},
    "bytes": {"digest": "AP90aGVybW9zdGF0", "buffer": "YWI="},
    "set": {"tables": ["orders", "users"], "pair": [1, 2], "frozen": [3]},
    "decimal": {"count": 3, "ratio": 0.25},
    "uuid": {"id": "12345678-1234-5678-1234-567812345678"},
}


@pytest.mark.parametrize("kind", sorted(ENCODED))
def test_a_probe_result_with_dates_bytes_sets_or_decimals_is_encoded(lam: Any, kind: str) -> None:
    # When the hook's probe ping reaches a function whose probe returns such a value
    response, payload = invoke(lam, f"odd-{kind}", build_request("probe", correlation_id=f"hook-{kind}"))

    # Then the reply marshals, the verdict is ok and the result is its JSON form
    assert "FunctionError" not in response, payload
    reply = parse_reply(payload)
    assert reply is not None
    assert payload["thermostat"]["correlation_id"] == f"hook-{kind}"
    assert reply.probe is not None
    assert reply.probe["ok"] is True
    assert reply.probe["result"] == ENCODED[kind]


UNENCODABLE = {
    "object": "probe result is not JSON-encodable: result['connection'] is a tests.functions.odd_probe.Connection",
    "cycle": "probe result is not JSON-encodable: result[1] refers back to itself",
    "tuple-key": "probe result is not JSON-encodable: result has a key of type tuple",
}


@pytest.mark.parametrize("kind", sorted(UNENCODABLE))
def test_a_probe_result_json_cannot_carry_is_a_probe_error_naming_its_type(lam: Any, kind: str) -> None:
    # When the probe returns an object, a self-referencing list, or a dict with a tuple key
    response, payload = invoke(lam, f"odd-{kind}", build_request("probe"))

    # Then the reply still marshals, and the probe's verdict is a failure that says what and where
    assert "FunctionError" not in response, payload
    reply = parse_reply(payload)
    assert reply is not None
    assert reply.warm is True
    assert reply.probe is not None
    assert reply.probe["ok"] is False
    assert reply.probe["error"] == UNENCODABLE[kind]
    assert "result" not in reply.probe
    assert reply.probe["duration_ms"] >= 0
