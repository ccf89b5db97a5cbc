"""Logging and metrics for thermostat's own functions: one place, built lazily.

Our handlers wear the same ``@warmable`` as our users' functions, so there is one
classification of starts. Powertools' ``inject_lambda_context``/``capture_cold_start_metric``
are deliberately not used: they keep their own cold-start flags (snap-start counted as cold,
pings counted as the cold start), which would contradict the runtime module's record.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from functools import cache
from typing import IO, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from infra.settings import Settings, load_settings
from thermostat_runtime import warmable

F = TypeVar("F", bound=Callable[[Any, Any], Any])

__all__ = ["MetricUnit", "entrypoint", "get_logger", "get_metrics", "publish_metrics"]


class _CurrentStdout(io.TextIOBase):
    """Writes to whatever ``sys.stdout`` is at write time (Powertools keeps the one it was built with)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _settings() -> Settings:
    # The observability fields alone: the logger must stand even when another variable is malformed.
    return load_settings(only=("service_name", "metrics_namespace"))


@cache
def get_logger() -> Logger:
    """The control plane's structured logger (service from ``POWERTOOLS_SERVICE_NAME``, via settings)."""
    return Logger(service=_settings().service_name, stream=cast("IO[str]", _CurrentStdout()))


@cache
def get_metrics() -> Metrics:
    """The control plane's EMF metrics, in ``THERMOSTAT_METRICS_NAMESPACE`` (via settings), never Powertools' own."""
    settings = _settings()
    return Metrics(namespace=settings.metrics_namespace, service=settings.service_name)


def publish_metrics() -> None:
    """Flush the metrics recorded during this invocation, if any (never an empty document)."""
    metrics = get_metrics()
    if metrics.metric_set:
        metrics.flush_metrics()
    else:
        metrics.clear_metrics()


class _LazyLogger:
    """Lets ``@warmable`` hold the logger at import time without building it then."""

    def append_keys(self, **keys: object) -> None:
        get_logger().append_keys(**keys)

    def clear_buffer(self) -> None:
        get_logger().clear_buffer()

    def flush_buffer(self) -> None:
        get_logger().flush_buffer()


def entrypoint(function: F) -> F:
    """Make ``function`` a thermostat Lambda handler: warm pings, start kinds, logs, metrics."""

    def handler(event: Any, context: Any) -> Any:
        logger = get_logger()
        request_id = getattr(context, "aws_request_id", None)
        if request_id is not None:
            logger.append_keys(function_request_id=request_id)
        try:
            return function(event, context)
        finally:
            publish_metrics()

    handler.__name__ = getattr(function, "__name__", "handler")
    handler.__doc__ = function.__doc__
    return warmable(logger=_LazyLogger())(handler)  # type: ignore[return-value]
