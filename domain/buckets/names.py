"""S3 general-purpose bucket names: the naming rules (each with its reason) and a generator.

The rules themselves are defined once, in ``thermostat_runtime.names`` (the runtime layer reads
``s3://`` references with the same rules); this module raises the domain's error and names new
buckets.
"""

from __future__ import annotations

import random
import re

from domain.errors import InvalidInput
from thermostat_runtime.names import (
    BUCKET_ALPHABET,
    BUCKET_MAX_LENGTH,
    BUCKET_MIN_LENGTH,
    BUCKET_RESERVED_PREFIXES,
    bucket_name_problems,
)

__all__ = [
    "InvalidBucketName",
    "bucket_name_problems",
    "generate_bucket_name",
    "is_valid_bucket_name",
    "shown",
    "validate_bucket_name",
]

MIN_LENGTH = BUCKET_MIN_LENGTH
MAX_LENGTH = BUCKET_MAX_LENGTH
RESERVED_PREFIXES = BUCKET_RESERVED_PREFIXES
SUFFIX_LENGTH = 8
_ALPHABET = BUCKET_ALPHABET
_SHOWN_MAX = 70


class InvalidBucketName(InvalidInput):
    """A bucket name that S3 would refuse. ``reasons`` lists every rule it breaks."""

    def __init__(self, name: str, reasons: list[str]) -> None:
        self.name = name
        self.reasons = reasons
        super().__init__(f"invalid bucket name {shown(name)}: " + "; ".join(reasons))


def shown(value: str) -> str:
    """A value quoted for an error message, cut short when it is long (a 10 KB name stays readable)."""
    if len(value) <= _SHOWN_MAX:
        return repr(value)
    return f"{value[:40]!r}… ({len(value)} characters)"


def validate_bucket_name(name: str) -> str:
    """Return ``name`` when S3 accepts it as a general-purpose bucket name; raise :class:`InvalidBucketName`."""
    problems = bucket_name_problems(name)
    if problems:
        raise InvalidBucketName(name, problems)
    return name


def is_valid_bucket_name(name: str) -> bool:
    """True when ``name`` follows every S3 general-purpose naming rule."""
    return not bucket_name_problems(name)


def _slug(text: str) -> str:
    lowered = text.lower()
    kept = "".join(char if char in _ALPHABET else "-" for char in lowered)
    return re.sub(r"-{2,}", "-", kept).strip("-")


def generate_bucket_name(project: str, stage: str, rng: random.Random) -> str:
    """A readable, valid, unique-enough name: ``{project}-{stage}-{8 random chars}``, at most 63 long.

    The prefix keeps only lowercase letters, digits and single hyphens (so no ``..``, no ``--``
    and no reserved suffix can appear); it is cut to fit, and a reserved prefix gets ``b-`` in
    front. The random suffix comes from ``rng`` (``random.SystemRandom()`` in production).
    """
    suffix = "".join(rng.choice(_ALPHABET) for _ in range(SUFFIX_LENGTH))
    room = MAX_LENGTH - SUFFIX_LENGTH - 1
    prefix = _slug(f"{project}-{stage}")
    if prefix.startswith(RESERVED_PREFIXES):
        prefix = f"b-{prefix}"
    prefix = prefix[:room].rstrip("-") or "bucket"
    return validate_bucket_name(f"{prefix}-{suffix}")
