"""``SqsShardQueue``: a sharded round's shards, one SQS message each, for the keep-warm worker.

The queue (``THERMOSTAT_SHARD_QUEUE``, its URL) is the keep-warm worker's event source (batch
size 1, partial batch responses, a dead-letter queue after ``maxReceiveCount``). Messages are sent
with ``SendMessageBatch``, ten at a time (SQS's limit per call); an entry SQS refuses is sent again
once, then reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from domain.errors import Unavailable
from domain.keep_warm.shards import Shard
from infra import aws

#: SendMessageBatch takes at most ten entries.
BATCH: Final = 10


class SqsShardQueue:
    """Send shards to the worker's queue (the client is built through ``infra.aws``: it honours
    ``AWS_ENDPOINT_URL_SQS``)."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        """The SQS client (built at first use)."""
        if self._client is None:
            self._client = aws.client("sqs")
        return self._client

    def send(self, shards: Sequence[Shard]) -> int:
        """Send one message per shard; how many were sent. ``Unavailable`` naming the shards that were not."""
        failed: list[str] = []
        for start in range(0, len(shards), BATCH):
            chunk = {str(shard.index): shard for shard in shards[start : start + BATCH]}
            for _attempt in range(2):
                entries = [{"Id": key, "MessageBody": shard.model_dump_json()} for key, shard in chunk.items()]
                try:
                    answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
                except Exception as exc:
                    code = aws.error_code(exc) or type(exc).__name__
                    shards_text = ", ".join(chunk)
                    raise Unavailable(
                        f"could not send shards {shards_text} to {self.queue_url}: SendMessageBatch failed ({code})"
                    ) from exc
                refused = {entry["Id"]: entry for entry in answer.get("Failed", [])}
                chunk = {key: shard for key, shard in chunk.items() if key in refused}
                if not chunk:
                    break
            failed.extend(
                f"{key} ({refused[key].get('Code', '?')}: {refused[key].get('Message', '')})".strip() for key in chunk
            )
        if failed:
            raise Unavailable(f"SQS refused shards {'; '.join(failed)} of the round: they will be listed missing")
        return len(shards)
