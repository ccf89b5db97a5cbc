"""An SQS event source mapping for the local stack: poll a (moto) queue, hand each batch to a handler.

It behaves as Lambda's SQS poller does, as far as thermostat relies on it:

* up to ``batch_size`` messages per invocation, as the documented SQS event (``Records`` with
  ``messageId``, ``receiptHandle``, ``body``, ``attributes.ApproximateReceiveCount``, ``eventSource``
  ``aws:sqs``, ``eventSourceARN``, ``awsRegion``);
* partial batch responses (``ReportBatchItemFailures``): the messages named in ``batchItemFailures``
  stay on the queue, the others are deleted; a handler that raises fails the whole batch;
* a failed message becomes visible again after ``retry_after_s`` (Lambda waits for the queue's
  visibility timeout; locally that is a setting, so a test need not wait minutes);
* redrive to the dead-letter queue after ``maxReceiveCount``: done by the queue itself (moto, like
  SQS, moves a message received that many times to the queue named by its ``RedrivePolicy``);
* up to ``concurrency`` invocations at once.

The poller is bounded: :meth:`drain` returns once the queue has stayed empty for ``idle_polls``
receives (or after ``max_polls``); :meth:`start` polls in a daemon thread until :meth:`stop`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from infra import aws

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class SourceStats:
    """What the event source did."""

    invocations: int = 0
    deleted: int = 0
    failed: int = 0
    handler_errors: int = 0
    batches: list[int] = field(default_factory=list)


class SqsEventSource:
    """Poll ``queue_url`` and invoke ``handler(event, context)`` with SQS events (see the module)."""

    def __init__(
        self,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 1,
        concurrency: int = 1,
        retry_after_s: int = 0,
        wait_s: int = 0,
        context_factory: Callable[[], Any] | None = None,
        client: Any = None,
    ) -> None:
        if not 1 <= batch_size <= 10:
            raise ValueError("batch_size must be 1-10 (SQS receives at most 10 messages per call)")
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.concurrency = max(1, concurrency)
        self.retry_after_s = retry_after_s
        self.wait_s = wait_s
        self._context_factory = context_factory or (lambda: None)
        self._client = client or aws.client("sqs")
        attributes = self._client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attributes["Attributes"]["QueueArn"]
        self.region = self.queue_arn.split(":")[3]
        self.stats = SourceStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": dict(message.get("Attributes", {})),
                    "messageAttributes": {},
                    "md5OfBody": message.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                }
                for message in messages
            ]
        }

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        event = self._event(messages)
        try:
            answer = self.handler(event, self._context_factory())
            failed_ids = {
                str(item.get("itemIdentifier"))
                for item in (answer or {}).get("batchItemFailures", [])
                if isinstance(item, dict)
            }
            errored = False
        except Exception:  # noqa: BLE001 - a handler error fails the batch, as Lambda does
            failed_ids = {message["MessageId"] for message in messages}
            errored = True
        done = [message for message in messages if message["MessageId"] not in failed_ids]
        retry = [message for message in messages if message["MessageId"] in failed_ids]
        if done:
            self._client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for message in retry:
            self._client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=self.retry_after_s
            )
        with self._lock:
            self.stats.invocations += 1
            self.stats.deleted += len(done)
            self.stats.failed += len(retry)
            self.stats.handler_errors += errored
            self.stats.batches.append(len(messages))

    def _receive(self, count: int) -> list[dict[str, Any]]:
        answer = self._client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            AttributeNames=["All"],
            WaitTimeSeconds=self.wait_s,
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def drain(self, *, max_polls: int = 1_000, idle_polls: int = 2) -> SourceStats:
        """Poll until the queue stays empty for ``idle_polls`` receives in a row (at most ``max_polls``)."""
        idle = 0
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="sqs-source") as pool:
            for _ in range(max_polls):
                if self._stop.is_set():
                    break
                # Up to ``concurrency`` batches at once, each of up to ``batch_size`` messages.
                batches = []
                for _slot in range(self.concurrency):
                    messages = self._receive(self.batch_size)
                    if not messages:
                        break
                    batches.append(messages)
                if not batches:
                    idle += 1
                    if idle >= idle_polls:
                        break
                    continue
                idle = 0
                for future in [pool.submit(self._invoke, batch) for batch in batches]:
                    future.result()
        return self.stats

    def start(self) -> SqsEventSource:
        """Poll in a daemon thread until :meth:`stop` (long polls of ``wait_s``, at least 1 s)."""
        self.wait_s = max(1, self.wait_s)

        def loop() -> None:
            while not self._stop.is_set():
                self.drain(max_polls=100, idle_polls=1)
                self._stop.wait(0.5)  # an empty queue is polled twice a second, not in a hot loop

        self._thread = threading.Thread(target=loop, name="sqs-event-source", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop polling (an invocation under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
