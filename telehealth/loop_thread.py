"""An asyncio event loop on a daemon thread of its own: how the call engine and the therapist's
session keep aiortc and the relay socket off the caller's (the UI's) thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.started = False

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        if self.started:
            raise RuntimeError("already started")
        self.started = True
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; ``RuntimeError`` before ``start`` or after ``stop``."""
        if not self.started or self.loop.is_closed():
            coro.close()
            raise RuntimeError("start() it first")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, last: Coroutine[Any, Any, object], timeout: float) -> None:
        """Run ``last`` (closing what the loop owns), then stop the loop and the thread. Safe to
        call more than once."""
        if not self.started or not self._thread.is_alive():
            last.close()
            return
        with contextlib.suppress(Exception):
            self.submit(last).result(timeout=timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
