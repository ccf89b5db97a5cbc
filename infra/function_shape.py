"""``BotoFunctionShapes``: a function's memory, architecture and runtime (what its price depends on).

One ``GetFunctionConfiguration`` per (function, qualifier), cached for the life of the object
(one command). IAM: ``lambda:GetFunctionConfiguration`` on the functions advised on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.advice import FunctionShape
from domain.errors import AccessDenied, NotFound, Unavailable
from infra import aws

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class BotoFunctionShapes:
    """Read :class:`~domain.advice.FunctionShape` values from the Lambda API."""

    def __init__(self, client: LambdaClient | None = None) -> None:
        self._client = aws.LazyClient(client, lambda: aws.client("lambda"))
        self._cache: dict[tuple[str, str | None], FunctionShape] = {}

    def describe(self, function: str, qualifier: str | None) -> FunctionShape:
        """The shape of ``function`` at ``qualifier`` (``NotFound``, ``AccessDenied`` or ``Unavailable``)."""
        key = (function, qualifier)
        if key in self._cache:
            return self._cache[key]
        arguments: dict[str, Any] = {"FunctionName": function}
        if qualifier:
            arguments["Qualifier"] = qualifier
        try:
            answer = self._client.get().get_function_configuration(**arguments)
        except Exception as exc:
            code = aws.error_code(exc)
            where = f"{function}:{qualifier}" if qualifier else function
            if code == "ResourceNotFoundException":
                raise NotFound(f"function {where} does not exist (GetFunctionConfiguration)") from exc
            if code in {"AccessDeniedException", "AccessDenied"}:
                raise AccessDenied(
                    f"lambda:GetFunctionConfiguration on {where} was refused: grant it to read memory and architecture"
                ) from exc
            if code is None and exc.__class__.__module__.split(".")[0] != "botocore":
                raise
            raise Unavailable(f"cannot read the configuration of {where}: {exc}") from exc
        architectures = answer.get("Architectures") or ["x86_64"]
        shape = FunctionShape(
            memory_mb=int(answer.get("MemorySize") or 128),
            architecture=str(architectures[0]),
            runtime=answer.get("Runtime"),
        )
        self._cache[key] = shape
        return shape
