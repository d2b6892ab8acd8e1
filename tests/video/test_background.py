"""The one background helper of the video stages: a prefetching reader and a background writer."""

from __future__ import annotations

import threading

import pytest

from faceswap_pipeline.video.background import BackgroundWriter, prefetched


def test_prefetch_keeps_order_passes_errors_and_stops_early():
    assert list(prefetched(iter(range(50)), 3)) == list(range(50))

    def failing():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetched(failing(), 2))
    reader = prefetched(iter(range(10_000)), 2)
    assert next(reader) == 0
    reader.close()  # the producer thread stops instead of reading everything
    with pytest.raises(ValueError, match="depth"):
        list(prefetched(iter(()), 0))


def test_background_writer_writes_in_order_in_another_thread_and_raises_its_errors():
    written, threads = [], set()

    def write(value: int, label: str) -> None:
        threads.add(threading.current_thread().name)
        written.append((value, label))

    with BackgroundWriter(write, depth=2) as writer:
        for value in range(20):
            writer.write(value, f"frame {value}")
    assert written == [(value, f"frame {value}") for value in range(20)]
    assert threading.current_thread().name not in threads

    def broken(value: int) -> None:
        raise OSError(f"disk full at {value}")

    with pytest.raises(OSError, match="disk full at 0"):
        with BackgroundWriter(broken, depth=2) as writer:
            writer.write(0)
    # An error while the caller's block itself fails does not hide the caller's error.
    with pytest.raises(KeyError):
        with BackgroundWriter(broken, depth=2) as writer:
            writer.write(0)
            raise KeyError("the caller's own error")
