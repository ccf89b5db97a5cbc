"""The one reading of a Lambda reply (``infra.lambda_invoker.replies``), as both transports hand it over."""

from __future__ import annotations

import base64
import json

import pytest

from domain.invocation import Outcome
from infra.lambda_invoker.replies import ApiError, ApiReply, invocation_result

pytestmark = pytest.mark.unit


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_a_2xx_is_ok_with_the_reply_parsed_and_the_headers_read() -> None:
    log = base64.b64encode(b"START RequestId\nEND").decode()
    headers = {"x-amz-executed-version": "7", "x-amz-log-result": log}
    result = invocation_result(200, headers, body({"thermostat": {"warm": True}}))
    assert (result.outcome, result.status_code, result.executed_version) == (Outcome.OK, 200, "7")
    assert result.payload == {"thermostat": {"warm": True}}
    assert result.log_tail == "START RequestId\nEND"
    assert result.raw_size == len(body({"thermostat": {"warm": True}}))
    assert result.error is None


def test_a_function_error_header_makes_a_function_error_with_the_type_and_message() -> None:
    reply = body({"errorType": "RuntimeError", "errorMessage": "boom"})
    result = invocation_result(200, {"x-amz-function-error": "Unhandled"}, reply)
    assert (result.outcome, result.error) == (Outcome.FUNCTION_ERROR, "RuntimeError: boom")
    assert invocation_result(200, {"x-amz-function-error": "Unhandled"}, b"").error == "Unhandled"


def test_a_reply_that_is_not_json_is_still_ok_with_a_note() -> None:
    result = invocation_result(200, {}, b"<html>")
    assert (result.outcome, result.payload, result.error) == (Outcome.OK, None, "the reply is not JSON")


def test_a_throttle_is_classified_by_its_reason() -> None:
    headers = {"x-amzn-errortype": "TooManyRequestsException:http://internal.amazon.com/"}
    reply = body({"message": "Rate exceeded", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"})
    result = invocation_result(429, headers, reply)
    assert (result.outcome, result.status_code, result.error) == (
        Outcome.THROTTLED,
        429,
        "ReservedFunctionConcurrentInvocationLimitExceeded",
    )
    # Without a reason, the code; a 429 without a code is still a throttle
    assert invocation_result(429, headers, b"").error == "TooManyRequestsException"
    assert invocation_result(429, {}, b"").outcome is Outcome.THROTTLED


def test_an_unknown_function_is_not_found_and_other_errors_fail_with_code_and_message() -> None:
    missing = invocation_result(
        404, {}, body({"__type": "x#ResourceNotFoundException", "message": "Function not found"})
    )
    assert (missing.outcome, missing.error) == (Outcome.NOT_FOUND, "Function not found")
    failed = invocation_result(503, {"x-amzn-errortype": "ServiceException"}, body({"Message": "try later"}))
    assert (failed.outcome, failed.status_code, failed.error) == (Outcome.FAILED, 503, "ServiceException: try later")
    assert invocation_result(502, {}, b"").error == "HTTP 502"


def test_an_error_the_transport_already_parsed_is_classified_the_same_way() -> None:
    # The SDK path: botocore parsed the code, message and modelled Reason; no body is left.
    throttled = invocation_result(
        429, {}, error=ApiError("TooManyRequestsException", "Rate", "CallerRateLimitExceeded")
    )
    assert (throttled.outcome, throttled.error) == (Outcome.THROTTLED, "CallerRateLimitExceeded")
    missing = invocation_result(404, {}, error=ApiError("ResourceNotFoundException", "Function not found"))
    assert (missing.outcome, missing.error) == (Outcome.NOT_FOUND, "Function not found")
    unknown = invocation_result(0, {}, error=ApiError(None))
    assert (unknown.outcome, unknown.status_code, unknown.error) == (Outcome.FAILED, None, "HTTP 0")


def test_another_api_call_is_read_with_the_same_error_fields() -> None:
    refused = ApiReply.of(404, {"x-amzn-errortype": "ResourceNotFoundException"}, body({"Message": "no such function"}))
    assert (refused.ok, refused.code, refused.message) == (False, "ResourceNotFoundException", "no such function")
    answered = ApiReply.of(200, {}, body({"Configuration": {"Timeout": 7}}))
    assert (answered.ok, answered.code, answered.document) == (True, None, {"Configuration": {"Timeout": 7}})
