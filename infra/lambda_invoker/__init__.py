"""Synchronous Lambda invocations for fan-outs: :class:`BotoFunctionInvoker` and its parts.

* :mod:`~infra.lambda_invoker.invoker`: the adapter (the ``FunctionInvoker`` port), its retry
  policy and quota, and the botocore transport;
* :mod:`~infra.lambda_invoker.fast_path`: the signed transport over the keep-alive pool;
* :mod:`~infra.lambda_invoker.connections`: that pool (raw sockets, TLS, reading replies);
* :mod:`~infra.lambda_invoker.sigv4`: the request signer;
* :mod:`~infra.lambda_invoker.replies`: the one reading of a reply into an ``InvocationResult``,
  used by both transports.
"""

from infra.lambda_invoker.connections import ConnectFailed
from infra.lambda_invoker.invoker import BotoFunctionInvoker, Transport
from infra.lambda_invoker.replies import ApiReply
from infra.lambda_invoker.sigv4 import SigV4Signer

__all__ = ["ApiReply", "BotoFunctionInvoker", "ConnectFailed", "SigV4Signer", "Transport"]
