"""A 127.0.0.1 HTTP proxy in front of STS (moto's server) that refuses ``AssumeRole`` into chosen accounts.

It stands on the network path (``AWS_ENDPOINT_URL_STS``), so :class:`infra.spokes.SpokeSessions`
is the production code, unchanged: only what comes back over the wire differs. The refusal is
what STS sends when a role is missing or does not trust the caller (it does not tell them apart):
HTTP 403 with the Query protocol's XML ``ErrorResponse``, code ``AccessDenied``, type ``Sender``,
and a message naming the caller, the action and the role (shape from the STS API reference,
"Common Errors", and what ``aws sts assume-role`` prints for a role that does not trust you).
Every other request is forwarded untouched.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from tests.refusing_proxy import Answer, InterceptingProxy

CALLER = "arn:aws:sts::123456789012:assumed-role/thermostat-DeploymentEventsFunctionRole/thermostat-deployment-events"

DENIED = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}</Message>
  </Error>
  <RequestId>4c1e3b0f-9a51-4c0e-8d7e-2f0c5a6b7d11</RequestId>
</ErrorResponse>
"""


def _role_account(role_arn: str) -> str | None:
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 4 else None


class StsRefusingProxy(InterceptingProxy):
    """Forwards to ``upstream`` except ``AssumeRole`` into a role of one of the ``refuse`` accounts."""

    def __init__(self, upstream: str, refuse: Iterable[str]) -> None:
        super().__init__(upstream)
        self.refuse = frozenset(refuse)

    @staticmethod
    def _form(body: bytes) -> tuple[str, str]:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return (form.get("Action") or ["?"])[0], (form.get("RoleArn") or [""])[0]

    def label(self, method: str, target: str, body: bytes) -> str:
        return self._form(body)[0]

    def intercept(self, method: str, target: str, body: bytes) -> Answer | None:
        action, role = self._form(body)
        if action != "AssumeRole" or _role_account(role) not in self.refuse:
            return None
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": "4c1e3b0f-9a51-4c0e-8d7e-2f0c5a6b7d11"}
        return 403, headers, DENIED.format(caller=CALLER, role=role).encode(), role
