"""The worker's plumbing: frames on private pipes, log marks, handler loading, the context object."""

from __future__ import annotations

import decimal
import os
import time
from collections.abc import Iterator

import pytest

from emulator import _worker as worker
from emulator.runner_env import WorkerReply, worker_environment
from emulator.runner_model import FunctionSpec, VersionConfig
from emulator.worker_pipes import Channel, ChannelClosed, ChannelTimedOut, LogReader

pytestmark = pytest.mark.unit


@pytest.fixture
def pipes() -> Iterator[tuple[int, int, int, int]]:
    """Two pipes, as runner and worker share them: (to_worker_r, to_worker_w, to_runner_r, to_runner_w)."""
    a_read, a_write = os.pipe()
    b_read, b_write = os.pipe()
    yield a_read, a_write, b_read, b_write
    for fd in (a_read, a_write, b_read, b_write):
        try:
            os.close(fd)
        except OSError:
            pass


def test_frames_round_trip_between_runner_and_worker(pipes: tuple[int, int, int, int]) -> None:
    to_worker_r, to_worker_w, to_runner_r, to_runner_w = pipes
    channel = Channel(to_worker_w, to_runner_r)
    deadline = time.monotonic() + 30

    channel.send({"type": "invoke", "payload": "é" * 10}, deadline)
    received = worker._receive(to_worker_r)
    worker._send(to_runner_w, {"type": "result", "payload": "[1, 2]"})

    assert received == {"type": "invoke", "payload": "é" * 10}
    assert channel.receive(deadline) == {"type": "result", "payload": "[1, 2]"}


def test_a_closed_pipe_is_reported_as_closed(pipes: tuple[int, int, int, int]) -> None:
    _to_worker_r, to_worker_w, to_runner_r, to_runner_w = pipes
    channel = Channel(to_worker_w, to_runner_r)
    os.close(to_runner_w)

    with pytest.raises(ChannelClosed):
        channel.receive(time.monotonic() + 30)


def test_a_silent_worker_is_reported_at_the_deadline(pipes: tuple[int, int, int, int]) -> None:
    _to_worker_r, to_worker_w, to_runner_r, _to_runner_w = pipes
    channel = Channel(to_worker_w, to_runner_r)

    with pytest.raises(ChannelTimedOut):
        channel.receive(time.monotonic() - 1)


def test_the_log_reader_splits_lines_and_phases_at_the_marks() -> None:
    # Given a reader on a pipe
    read_fd, write_fd = os.pipe()
    sunk: list[str] = []
    reader = LogReader(read_fd, "n0nce", sunk.append)
    reader.start()
    mark = b"\x00n0nce:"

    # When a phase writes a line, a partial line, then its mark
    os.write(write_fd, b"first line\nno newline yet" + mark + b"0\n")
    first_phase = reader.take(1)
    # and the next phase writes more, then the process ends
    os.write(write_fd, b"second phase\r\n")
    os.close(write_fd)
    rest = reader.drain()

    # Then each phase got its own lines, and the sink every line
    assert first_phase == ("first line", "no newline yet")
    assert rest == ("second phase",)
    assert sunk == ["first line", "no newline yet", "second phase"]
    reader.thread.join(timeout=10)
    assert not reader.thread.is_alive()


def test_a_forged_mark_with_another_nonce_is_an_ordinary_line() -> None:
    read_fd, write_fd = os.pipe()
    reader = LogReader(read_fd, "real", lambda line: None)
    reader.start()

    os.write(write_fd, b"\x00forged:0\n")
    os.close(write_fd)

    assert reader.drain() == ("\x00forged:0",)


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("nodots", "Runtime.MalformedHandlerName", "Bad handler 'nodots'"),
        ("sys.handler", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys"),
        ("json.no_such_handler", "Runtime.HandlerNotFound", "Handler 'no_such_handler' missing on module 'json'"),
        ("no_such_module_xyz.handler", "Runtime.ImportModuleError", "Unable to import module 'no_such_module_xyz'"),
    ],
)
def test_handler_loading_faults_use_lambdas_error_types(handler: str, error_type: str, message: str) -> None:
    with pytest.raises(worker._InitFault) as caught:
        worker._load_handler(handler)

    assert caught.value.error_type == error_type
    assert str(caught.value).startswith(message)


def test_the_context_object_reads_the_invocation_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "echo")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "4")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")

    context = worker.LambdaContext(
        {
            "request_id": "req-1",
            "invoked_arn": "arn:aws:lambda:us-east-1:123456789012:function:echo:live",
            "deadline_ms": time.time() * 1000 + 60_000,
            "client_context": {"client": {"installation_id": "i-1"}, "custom": {"a": 1}, "env": {"b": 2}},
            "identity": {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
        }
    )

    assert (context.function_name, context.function_version, context.memory_limit_in_mb) == ("echo", "4", "512")
    assert context.aws_request_id == "req-1"
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
    assert context.client_context is not None
    assert context.client_context.client is not None
    assert context.client_context.client.installation_id == "i-1"
    assert (context.client_context.custom, context.client_context.env) == ({"a": 1}, {"b": 2})
    assert (context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id) == ("id-1", "pool-1")


def test_a_handler_exception_becomes_lambdas_error_document(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(event: object, context: object) -> None:
        raise KeyError("missing")

    reply = worker._invoke(
        handler, {"request_id": "r-9", "invoked_arn": "arn", "deadline_ms": 0, "payload": '{"a": 1}'}
    )

    assert reply["type"] == "error"
    error = reply["error"]
    assert isinstance(error, dict)
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("KeyError", "'missing'", "r-9")
    assert "[ERROR] KeyError: 'missing'" in capsys.readouterr().err


def test_a_result_that_is_not_json_is_a_marshal_error(capsys: pytest.CaptureFixture[str]) -> None:
    reply = worker._invoke(lambda event, context: {1, 2}, {"request_id": "r", "invoked_arn": "a", "deadline_ms": 0})

    assert reply["type"] == "error"
    error = reply["error"]
    assert isinstance(error, dict)
    assert error["errorType"] == "Runtime.MarshalError"
    assert "[ERROR] Runtime.MarshalError" in capsys.readouterr().err


# awslambdaric's own marshaller tests (aws/aws-lambda-python-runtime-interface-client,
# tests/test_lambda_runtime_marshaller.py), the Python 3.11 runtime's cases: a Decimal is a number,
# a NaN Decimal (signed or not) is NaN, and non-ASCII is escaped.
LAMBDA_MARSHALLER_FIXTURES = [
    ({"pi": decimal.Decimal("3.14159")}, '{"pi": 3.14159}'),
    ({"pi": decimal.Decimal("nan")}, '{"pi": NaN}'),
    ({"pi": decimal.Decimal("-nan")}, '{"pi": NaN}'),
    ({"price": "\u00a31.00"}, '{"price": "\\u00a31.00"}'),
]


@pytest.mark.parametrize(("result", "payload"), LAMBDA_MARSHALLER_FIXTURES)
def test_a_result_is_marshalled_as_lambdas_python_runtime_marshals_it(result: object, payload: str) -> None:
    reply = worker._invoke(lambda event, context: result, {"request_id": "r", "invoked_arn": "a", "deadline_ms": 0})

    assert reply == {"type": "result", "payload": payload}


def test_a_decimal_reads_back_as_the_number_its_digits_say() -> None:
    result = {"n": decimal.Decimal("3"), "x": decimal.Decimal("1E+2"), "inf": decimal.Decimal("-Infinity")}

    reply = worker._invoke(lambda event, context: result, {"request_id": "r", "invoked_arn": "a", "deadline_ms": 0})

    assert reply["type"] == "result"
    assert reply["payload"] == '{"n": 3, "x": 100.0, "inf": -Infinity}'


def test_worker_environment_layers_lambda_passthrough_and_function_variables() -> None:
    spec = FunctionSpec(name="echo", handler="m.h", environment={"AWS_ENDPOINT_URL": "http://fn"}, code_paths=("/c",))
    config = VersionConfig(function="echo", version="2", spec=spec, revision_id="r", last_modified="")

    env = worker_environment(
        config,
        init_type="snap-start",
        log_stream="s",
        region="eu-west-1",
        parent={"PATH": "/bin", "AWS_ENDPOINT_URL": "http://parent", "AWS_ENDPOINT_URL_S3": "http://s3", "X": "1"},
    )

    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "snap-start"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "2"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == "http://fn"  # the function's own setting wins
    assert env["AWS_ENDPOINT_URL_S3"] == "http://s3"
    assert env["LAMBDA_TASK_ROOT"] == "/c"
    assert env["PATH"] == "/bin"
    assert "X" not in env


def test_worker_reply_ok_only_for_success() -> None:
    assert WorkerReply("ready").ok
    assert WorkerReply("result").ok
    assert not WorkerReply("error").ok
    assert not WorkerReply("timeout").ok
