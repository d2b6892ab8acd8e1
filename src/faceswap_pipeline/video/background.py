"""Work beside the caller's thread: read an iterator ahead (a decoder), feed a writer (an encoder).

PyAV, onnxruntime and torch release the GIL, so decoding and encoding in their own threads overlap
the caller's detection and model. Errors in the thread are raised in the caller's.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# Marks the end of a queue's items (no item is this object).
_END = object()


@dataclass
class _Failure:
    """An error raised in the background thread, handed to the caller's thread."""

    error: BaseException


def prefetched(items: Iterable, depth: int) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    An exception in the producer is raised in the consumer; stopping early (``close``, ``break``)
    stops the producer and waits for it.

    Raises:
        ValueError: ``depth`` < 1.
    """
    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put_unless_stopped(handoff, item, stop):
                    return
            handoff.put(_END)
        except BaseException as error:  # handed to the consumer, which re-raises it
            handoff.put(_Failure(error))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                handoff.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.1)


def _put_unless_stopped(handoff: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item`` once there is room; False when the consumer stopped first."""
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class BackgroundWriter:
    """Calls ``write(*item)`` for queued items in a background thread, in order (e.g. an encoder's).

    Use as a context manager: leaving the block waits for every queued item. An error in the thread
    is raised by the next ``write`` or on leaving the block; items after it are dropped.

    Args:
        write: called with each item's arguments, e.g. ``VideoWriter.write``.
        depth: items queued at most before ``write`` blocks (memory holds this many).
    """

    def __init__(self, write: Callable[..., Any], depth: int) -> None:
        if depth < 1:
            raise ValueError(f"writer queue depth must be >= 1, got {depth}")
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._consume, name="background-writer", daemon=True)

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._queue.put(_END)
        self._thread.join()
        if self._error is not None and exc_type is None:
            raise self._error

    def _consume(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._write(*item)
                except BaseException as error:  # raised in the caller's thread
                    self._error = error

    def write(self, *args: Any) -> None:
        """Queue one call of ``write(*args)``; raises an earlier call's error."""
        if self._error is not None:
            raise self._error
        self._queue.put(args)
