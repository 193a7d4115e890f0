"""The lines a child process writes to a pipe, read by a thread so that waiting on them
can time out (``silian serve`` and the witness service log JSON lines)."""

from __future__ import annotations

import queue
import threading
import time

__all__ = ["Lines"]


class Lines:
    """Lines of a pipe, read by a thread so that waiting on them can time out."""

    def __init__(self, pipe: object) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=10)

    def _pump(self, pipe: object) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            self._queue.put(line)

    def wait_for(self, needle: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no {needle!r} within {timeout}s; saw: {self.seen[-5:]}")
