"""S3 general-purpose bucket names: the naming rules (each with its reason) and a generator.

moto (and so every local run) accepts names that S3 refuses (``My_Bucket``, ``192.168.5.4``,
``sthree-x``), so this validator is the only check before a name reaches AWS: it must be
complete, and each refusal must say which rule was broken.
"""

from __future__ import annotations

import random
import re
import string

from domain.errors import InvalidInput

MIN_LENGTH = 3
MAX_LENGTH = 63
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
SUFFIX_LENGTH = 8
_ALPHABET = string.ascii_lowercase + string.digits
_ALLOWED = frozenset(_ALPHABET + ".-")
_IP_LIKE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
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


def bucket_name_problems(name: str) -> list[str]:
    """Every S3 naming rule ``name`` breaks, as reasons a person can act on (empty when valid)."""
    problems: list[str] = []
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        problems.append(f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long (it has {len(name)})")
    bad = sorted({char for char in name if char not in _ALLOWED})
    if bad:
        listed = "".join(bad[:10])
        problems.append(f"may contain only lowercase letters, digits, '.' and '-' (found {listed!r})")
    if name and name[0] not in _ALPHABET:
        problems.append("must begin with a lowercase letter or a digit")
    if name and name[-1] not in _ALPHABET:
        problems.append("must end with a lowercase letter or a digit")
    if ".." in name:
        problems.append("must not contain two adjacent periods")
    if _IP_LIKE.fullmatch(name):
        problems.append("must not be formatted as an IP address")
    problems.extend(
        f"must not start with the reserved prefix {prefix!r}" for prefix in RESERVED_PREFIXES if name.startswith(prefix)
    )
    problems.extend(
        f"must not end with the reserved suffix {suffix!r}" for suffix in RESERVED_SUFFIXES if name.endswith(suffix)
    )
    return problems


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
