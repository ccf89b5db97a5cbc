"""Response expectations: what an invocation must answer for the pre-traffic hook to pass.

Syntax — one expectation per line, or several separated by ``;``::

    PATH OP VALUE          statusCode == 200
                           body.status != "degraded"
                           $.headers["content-type"] =~ "^application/json"
                           body.items[0].price <= 10.5
    PATH exists            body.id exists
    PATH absent            errorMessage absent

* ``PATH`` starts at the response document. A leading ``$`` or ``$.`` is optional; steps are
  ``.key``, ``[index]`` (negative counts from the end) or ``["any key"]``. A string that holds
  JSON (API Gateway's ``body``) is decoded when the path continues into it, so
  ``body.ok == true`` works on ``{"statusCode": 200, "body": "{\\"ok\\": true}"}``.
* ``OP`` is ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (numbers with numbers, strings with
  strings) or ``=~`` (regular-expression search in a string).
* ``VALUE`` is a JSON literal: ``200``, ``"ok"``, ``true``, ``null``, ``[1, 2]``, ``{"a": 1}``.
  Equality is JSON equality: ``true`` is not ``1``.

The same expectations may be given as JSON: a list of such strings, or an object
``{"PATH": VALUE, …}`` meaning ``PATH == VALUE`` for each entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from domain.errors import InvalidInput

OPERATORS: Final = ("==", "!=", "<=", ">=", "=~", "<", ">")
UNARY: Final = ("exists", "absent")
_MAX_SHOWN: Final = 120
_BARE_KEY_END: Final = frozenset(".[]=!<>~; \t\r\n")

PathStep = str | int


class _Missing:
    """Marks a path that leads nowhere (distinct from a JSON ``null``)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()


def _shown(value: Any) -> str:
    if value is MISSING:
        return "nothing (the path does not exist)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON sees it: ``true`` differs from ``1``, ``1`` equals ``1.0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if type(left) is not type(right):
        return False
    return bool(left == right)


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def resolve(document: Any, path: Sequence[PathStep]) -> Any:
    """The value at ``path`` in ``document``, or :data:`MISSING`."""
    current = document
    for step in path:
        current = _maybe_json(current)
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return MISSING
            current = current[step]
        else:
            if not isinstance(current, dict) or step not in current:
                return MISSING
            current = current[step]
    return current


@dataclass(frozen=True)
class Expectation:
    """One check on a response document: ``path`` ``op`` ``value``."""

    text: str
    path: tuple[PathStep, ...]
    op: str
    value: Any = None

    def check(self, document: Any) -> str | None:
        """None when ``document`` meets the expectation, else what was expected and what came."""
        actual = resolve(document, self.path)
        if self._holds(actual):
            return None
        return f"expected {self.text}, got {_shown(actual)}"

    def _holds(self, actual: Any) -> bool:
        if self.op == "exists":
            return actual is not MISSING
        if self.op == "absent":
            return actual is MISSING
        if actual is MISSING:
            return False
        if self.op == "==":
            return json_equal(actual, self.value)
        if self.op == "!=":
            return not json_equal(actual, self.value)
        if self.op == "=~":
            return isinstance(actual, str) and re.search(self.value, actual) is not None
        comparable = (_is_number(actual) and _is_number(self.value)) or (
            isinstance(actual, str) and isinstance(self.value, str)
        )
        if not comparable:
            return False
        if self.op == "<":
            return bool(actual < self.value)
        if self.op == "<=":
            return bool(actual <= self.value)
        if self.op == ">":
            return bool(actual > self.value)
        return bool(actual >= self.value)


def check_all(expectations: Iterable[Expectation], document: Any) -> list[str]:
    """Every failed expectation's message (empty when all hold)."""
    return [problem for expectation in expectations if (problem := expectation.check(document)) is not None]


def _fail(text: str, why: str) -> InvalidInput:
    return InvalidInput(f"expectation {text!r}: {why}")


def _bare_key(text: str, position: int, source: str) -> tuple[str, int]:
    start = position
    while position < len(text) and text[position] not in _BARE_KEY_END:
        position += 1
    if position == start:
        raise _fail(source, f"empty key at column {start + 1}")
    return text[start:position], position


def _bracket(text: str, position: int, source: str) -> tuple[PathStep, int]:
    """Parse ``[index]`` or ``["key"]`` starting at the ``[``; return the step and the next position."""
    inner_start = position + 1 + _leading_space(text, position + 1)
    if text[inner_start : inner_start + 1] == '"':
        # A quoted key may itself contain ']' or '.': read it as a JSON string.
        try:
            key, consumed = json.JSONDecoder().raw_decode(text, inner_start)
        except ValueError as exc:
            raise _fail(source, f"bad quoted key at column {inner_start + 1}: {exc}") from exc
        close = text.find("]", consumed)
        if close == -1 or text[consumed:close].strip():
            raise _fail(source, f"expected ']' after the quoted key at column {consumed + 1}")
        return str(key), close + 1
    end = text.find("]", position)
    if end == -1:
        raise _fail(source, f"unclosed '[' at column {position + 1}")
    inner = text[position + 1 : end].strip()
    if not re.fullmatch(r"-?\d+", inner):
        raise _fail(source, f'[{inner}] is neither an index nor a quoted key; write [0] or ["key"]')
    return int(inner), end + 1


def _parse_path(text: str, source: str) -> tuple[tuple[PathStep, ...], int]:
    """Parse a path at the start of ``text``; return the steps and where the path ended."""
    position = 0
    steps: list[PathStep] = []
    if text.startswith("$."):
        key, position = _bare_key(text, 2, source)
        steps.append(key)
    elif text.startswith("$"):
        position = 1
    elif text[:1] not in _BARE_KEY_END:
        key, position = _bare_key(text, 0, source)
        steps.append(key)
    while position < len(text):
        char = text[position]
        if char == "[":
            step, position = _bracket(text, position, source)
            steps.append(step)
        elif char == ".":
            key, position = _bare_key(text, position + 1, source)
            steps.append(key)
        else:
            break
    return tuple(steps), position


def _leading_space(text: str, position: int) -> int:
    count = 0
    while position + count < len(text) and text[position + count] in " \t":
        count += 1
    return count


def parse_expectation(text: str) -> Expectation:
    """Parse one expectation (syntax in the module docstring); InvalidInput says what is wrong."""
    source = text.strip()
    if not source:
        raise InvalidInput("empty expectation: write e.g. 'statusCode == 200'")
    path, end = _parse_path(source, source)
    if not path and not source.startswith("$"):
        raise _fail(source, "it must start with a path, e.g. 'statusCode == 200' or '$.body.ok == true'")
    rest = source[end:].strip()
    for word in UNARY:
        if rest == word:
            return Expectation(text=source, path=path, op=word)
    op = next((candidate for candidate in OPERATORS if rest.startswith(candidate)), None)
    if op is None:
        shown = rest or "nothing"
        raise _fail(
            source, f"expected an operator ({', '.join(OPERATORS)}, exists, absent) after the path, got {shown!r}"
        )
    raw = rest[len(op) :].strip()
    if not raw:
        raise _fail(source, f"missing the value after {op!r}")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise _fail(source, f'the value {raw!r} is not a JSON literal; quote strings, e.g. "ok"') from exc
    if op == "=~":
        if not isinstance(value, str):
            raise _fail(source, '=~ needs a quoted regular expression, e.g. =~ "^2\\\\d\\\\d$"')
        try:
            re.compile(value)
        except re.error as exc:
            raise _fail(source, f"{value!r} is not a valid regular expression: {exc}") from exc
    elif op in ("<", "<=", ">", ">=") and not (_is_number(value) or isinstance(value, str)):
        raise _fail(source, f"{op} compares numbers or strings, got {_shown(value)}")
    return Expectation(text=source, path=path, op=op, value=value)


def _split(text: str) -> list[str]:
    """Split on newlines and on ``;`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in text:
        if quoted:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
            current.append(char)
        elif char in ";\n":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _path_text(key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*", key):
        return key
    if key.startswith("$"):
        return key
    return "$[" + json.dumps(key) + "]"


def parse_expectations(text: str | None) -> tuple[Expectation, ...]:
    """Parse a whole expectation list: the line syntax, or JSON (a list of strings or an object).

    An object's keys are paths (``"body.status": "ok"`` means ``body.status == "ok"``).
    """
    if text is None or not text.strip():
        return ()
    stripped = text.strip()
    if stripped[0] in "[{":
        try:
            document = json.loads(stripped)
        except ValueError as exc:
            raise InvalidInput(
                f"expectations look like JSON but do not parse ({exc}); give a JSON list of strings, "
                "an object {\"path\": value}, or lines like 'statusCode == 200'"
            ) from exc
        if isinstance(document, list):
            if not all(isinstance(item, str) for item in document):
                raise InvalidInput('a JSON list of expectations must hold strings, e.g. ["statusCode == 200"]')
            return tuple(parse_expectation(item) for item in document)
        if isinstance(document, dict):
            return tuple(
                parse_expectation(f"{_path_text(key)} == {json.dumps(value)}") for key, value in document.items()
            )
    return tuple(parse_expectation(part) for part in _split(stripped))
