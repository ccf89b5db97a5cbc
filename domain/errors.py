"""Errors a user or operator can act on. Each message says what was wrong and what to do."""

from __future__ import annotations


class ThermostatError(Exception):
    """Base of every error thermostat raises on purpose."""


class InvalidInput(ThermostatError, ValueError):
    """The caller sent something unusable (an event, a name, a flag). Exit code 2 in the CLI."""


class NotFound(ThermostatError, LookupError):
    """A named thing (a target, a function, an object) does not exist."""


class Conflict(ThermostatError):
    """Another writer got there first, or the state does not allow the operation."""


class Unavailable(ThermostatError):
    """A dependency (DynamoDB, S3, Lambda, CodeDeploy) failed or throttled; retrying may help."""


class DeadlineExceeded(ThermostatError):
    """Not enough time was left to finish safely."""


class AccessDenied(Unavailable):
    """The caller's role may not make a call (``AccessDeniedException``): a permission is missing.

    An ``Unavailable`` for every caller that only needs to know the call failed; retrying does not
    help, granting the permission does.
    """


class Throttled(Unavailable):
    """AWS refused a call for its rate (``TooManyRequestsException``, ``ThrottlingException``).

    An ``Unavailable`` for every caller that only needs to know the call failed; a caller that
    caches may keep what it read before.
    """
