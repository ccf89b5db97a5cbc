"""AWS names, defined once: Lambda function names, qualifiers and ARNs, S3 bucket names, and
Lambda's synchronous payload limit.

Standard library only: this module ships in the runtime layer, and the domain, the control
plane and the emulator all read their names through it. Every name is matched whole
(``fullmatch``), so ``"live\\n"`` is not an alias and ``"orders "`` is not a function.

The grammar is Lambda's own (the API reference's ``FunctionName``, ``Qualifier``, ``Name`` and
``Version`` constraints) and S3's general-purpose bucket naming rules.
"""

from __future__ import annotations

import re

# The runtime layer imports this lazily (only refs that name a bucket reach it); ``re`` is the
# one import it costs.

#: Lambda's synchronous (RequestResponse) invocation payload limit, request and response.
SYNC_INVOKE_LIMIT_BYTES = 6 * 1024 * 1024

FUNCTION_NAME_MAX = 64
QUALIFIER_MAX = 128
LATEST = "$LATEST"

_NAME = r"[A-Za-z0-9_-]{1,64}"
_QUALIFIER = r"\$LATEST|[A-Za-z0-9_-]{1,128}"
FUNCTION_NAME = re.compile(_NAME)
#: A published version: Lambda numbers them from 1 and never reuses a number.
PUBLISHED_VERSION = re.compile(r"[1-9][0-9]{0,15}")
#: An alias: letters, digits, ``-`` and ``_``, not all digits (that would read as a version).
ALIAS_NAME = re.compile(r"(?![0-9]+$)[A-Za-z0-9_-]{1,128}")
QUALIFIER = re.compile(_QUALIFIER)
#: A name, ``name:qualifier``, a partial ARN (``ACCOUNT:function:name[:q]``) or a full ARN.
FUNCTION_REF = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"|(?P<short_account>\d{12}):function:)?"
    rf"(?P<name>{_NAME})(?::(?P<qualifier>{_QUALIFIER}))?"
)


class ParsedFunctionRef:
    """A function as named: its bare name, the qualifier it carried, and the unqualified form given."""

    __slots__ = ("account", "name", "qualifier", "region", "unqualified")

    def __init__(
        self, name: str, qualifier: str | None, unqualified: str, account: str | None, region: str | None
    ) -> None:
        self.name = name
        self.qualifier = qualifier
        self.unqualified = unqualified
        self.account = account
        self.region = region

    def __repr__(self) -> str:
        return f"ParsedFunctionRef(name={self.name!r}, qualifier={self.qualifier!r}, unqualified={self.unqualified!r})"


def parse_function_ref(text: str) -> ParsedFunctionRef | None:
    """Read a function name, ``name:qualifier``, partial ARN or ARN; None when it is none of them."""
    match = FUNCTION_REF.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    qualifier = match["qualifier"]
    unqualified = text[: match.start("qualifier") - 1] if qualifier is not None else text
    return ParsedFunctionRef(
        name=match["name"],
        qualifier=qualifier,
        unqualified=unqualified,
        account=match["account"] or match["short_account"],
        region=match["region"],
    )


def is_function_name(text: str) -> bool:
    """True for a bare function name (1-64 letters, digits, ``-``, ``_``)."""
    return isinstance(text, str) and FUNCTION_NAME.fullmatch(text) is not None


def is_unqualified_function_arn(text: str) -> bool:
    """True for a full function ARN without a qualifier."""
    ref = parse_function_ref(text)
    return ref is not None and ref.qualifier is None and ref.region is not None


def is_published_version(text: str) -> bool:
    """True for a published version number ("1", "2", …; never ``$LATEST``, never "0")."""
    return isinstance(text, str) and PUBLISHED_VERSION.fullmatch(text) is not None


def is_alias_name(text: str) -> bool:
    """True for a name Lambda accepts as an alias."""
    return isinstance(text, str) and ALIAS_NAME.fullmatch(text) is not None


def is_qualifier_syntax(text: str) -> bool:
    """True for anything Lambda's ``Qualifier`` parameter accepts (``$LATEST``, digits, an alias name)."""
    return isinstance(text, str) and QUALIFIER.fullmatch(text) is not None


def is_qualifier(text: str) -> bool:
    """True for ``$LATEST``, a published version or an alias name."""
    return text == LATEST or is_published_version(text) or is_alias_name(text)


# -- S3 general-purpose bucket names ---------------------------------------------------------

BUCKET_MIN_LENGTH = 3
BUCKET_MAX_LENGTH = 63
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
BUCKET_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_BUCKET_ALLOWED = frozenset(BUCKET_ALPHABET + ".-")
_IP_LIKE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def bucket_name_problems(name: str) -> list[str]:
    """Every S3 naming rule ``name`` breaks, as reasons a person can act on (empty when valid).

    moto (and so every local run) accepts names that S3 refuses (``My_Bucket``, ``192.168.5.4``,
    ``sthree-x``): this is the only check before a name reaches AWS, so it is complete.
    """
    problems: list[str] = []
    if not BUCKET_MIN_LENGTH <= len(name) <= BUCKET_MAX_LENGTH:
        problems.append(f"must be {BUCKET_MIN_LENGTH} to {BUCKET_MAX_LENGTH} characters long (it has {len(name)})")
    bad = sorted({char for char in name if char not in _BUCKET_ALLOWED})
    if bad:
        listed = "".join(bad[:10])
        problems.append(f"may contain only lowercase letters, digits, '.' and '-' (found {listed!r})")
    if name and name[0] not in BUCKET_ALPHABET:
        problems.append("must begin with a lowercase letter or a digit")
    if name and name[-1] not in BUCKET_ALPHABET:
        problems.append("must end with a lowercase letter or a digit")
    if ".." in name:
        problems.append("must not contain two adjacent periods")
    if ".-" in name or "-." in name:
        # Each dot-separated label must be a DNS label (no '-' at its edges): S3's virtual-hosted
        # addressing, and the SDKs' own check (botocore's aws.isVirtualHostableS3Bucket), refuse it.
        problems.append(
            "must not have a hyphen next to a period ('.-' or '-.'): it is invalid for virtual-hosted-style addressing"
        )
    if _IP_LIKE.fullmatch(name):
        problems.append("must not be formatted as an IP address")
    problems.extend(
        f"must not start with the reserved prefix {prefix!r}"
        for prefix in BUCKET_RESERVED_PREFIXES
        if name.startswith(prefix)
    )
    problems.extend(
        f"must not end with the reserved suffix {suffix!r}"
        for suffix in BUCKET_RESERVED_SUFFIXES
        if name.endswith(suffix)
    )
    return problems


def is_bucket_name(name: str) -> bool:
    """True when S3 accepts ``name`` as a general-purpose bucket name."""
    return isinstance(name, str) and not bucket_name_problems(name)
