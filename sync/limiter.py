"""Flow control shared by every request of one client: an adaptive concurrency limit and an
optional requests-per-second cap.

``AdaptiveLimiter`` is AIMD with a memory, in the spirit of TCP congestion control:

* It starts at the ceiling (``--concurrency``): most servers take it, and one that does not
  says so with its first 429 within one round trip, which costs far less than ramping up from
  1 on every run.
* On an overload signal (429, 503) it halves, once per *epoch*.  A new epoch starts at each
  decrease; overloads reported by requests sent before it, or sent while the server was still
  busy with those, say nothing new and do not halve again.
* A 429 is measured by the request's *position*, the number in flight when it was sent:
  starting at 64 against a cap of 32, the 429s go to positions 33..64, so the level that
  overloads is 33, not 64.
* It regrows by doubling per window of successes up to just below the level that drew the 429
  (after a 503, up to the level itself: a 503 may be a passing fault), then adds 1 per window.
  A window is ``limit`` successes of the current epoch, roughly one round trip.
* At the last level that drew a 429 it waits ``PLATEAU_WINDOWS`` windows before probing one
  above.  Plain halve-and-add-one saws between half and full and averages ~75% of a server's
  cap; the plateau keeps it near the cap and still notices when the cap grows.

Every method is synchronous except ``acquire``'s slow path, so a request that finds a free slot
pays a few attribute updates and no await.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

#: What ``acquire`` hands out and the other methods take back: (epoch, position).
Ticket = tuple[int, int]

#: Windows of success spent just below the last level that drew a 429 before probing it.
PLATEAU_WINDOWS = 64


class RateCap:
    """Spaces requests evenly at ``rate`` per second (no bursts: polite nightly jobs)."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.interval = 1.0 / rate
        self._next = 0.0

    def reserve(self) -> float:
        """Reserve the next send time; returns how long to wait for it (seconds)."""
        now = time.monotonic()
        at = max(now, self._next)
        self._next = at + self.interval
        return at - now


class AdaptiveLimiter:
    """Bounds requests in flight to ``limit``, which adapts between 1 and ``ceiling``."""

    def __init__(self, ceiling: int, *, rate: float | None = None) -> None:
        if ceiling < 1:
            raise ValueError("concurrency must be at least 1")
        self.ceiling = ceiling
        self.limit = ceiling
        self.in_flight = 0
        self.epoch = 0                       # bumped at each decrease
        self.decreases = 0
        self.rate_cap = RateCap(rate) if rate is not None else None
        self._waiters: deque[asyncio.Future[int]] = deque()
        self._older_in_flight = 0            # requests still out from before the last decrease
        self._successes = 0                  # in the current window
        self._recover_to = 0                 # regain up to here by doubling
        self._overload_level: int | None = None  # the last level that drew a 429
        self._plateau = 0                    # windows spent just below that level
        self._peak = 0                       # most requests in flight during this epoch

    # ------------------------------------------------------------------ slots

    async def acquire(self) -> Ticket:
        """Wait for a slot (and the rate cap); the ticket goes back to ``release``."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            epoch = self.epoch
        else:
            waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                epoch = await waiter  # ``_wake`` hands the slot over (in_flight counted)
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self.release((waiter.result(), 0))  # handed a slot as we were cancelled
                else:
                    self._waiters.remove(waiter)
                raise
        position = self.in_flight
        if position > self._peak:
            self._peak = position
        ticket = (epoch, position)
        if self.rate_cap is not None:
            delay = self.rate_cap.reserve()
            if delay > 0:
                try:
                    await asyncio.sleep(delay)
                except BaseException:
                    self.release(ticket)
                    raise
        return ticket

    def release(self, ticket: Ticket) -> None:
        if ticket[0] != self.epoch:
            self._older_in_flight -= 1
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(self.epoch)

    # ------------------------------------------------------------------ signals

    def on_success(self, ticket: Ticket) -> None:
        """The server answered without refusing for load (call after ``release``)."""
        if ticket[0] != self.epoch:
            return                  # says nothing about the level chosen at the last decrease
        self._successes += 1
        if self._successes < self.limit:
            return
        self._successes = 0
        if self.limit >= self.ceiling:
            return
        if self.limit < self._recover_to:
            self.limit = min(self._recover_to, self.limit * 2, self.ceiling)
        elif self._overload_level is not None and self.limit + 1 >= self._overload_level:
            if self.limit >= self._overload_level:
                self._overload_level = None       # a full window at that level: the cap grew
            else:
                self._plateau += 1
                if self._plateau < PLATEAU_WINDOWS:
                    return
                self._plateau = 0
                self.limit += 1
        else:
            self.limit += 1
        self._wake()

    def on_overload(self, ticket: Ticket, *, too_many: bool) -> None:
        """The server refused for load: ``too_many`` for 429, False for 503 (after release)."""
        epoch, position = ticket
        if epoch != self.epoch:
            # Sent before the last decrease: no second halving, but a 429 to a request that
            # had fewer beside it narrows down the level that overloads.
            if too_many and self._overload_level is not None and position < self._overload_level:
                self._overload_level = max(1, position)
                self._recover_to = max(self.limit, position - 1)
            return
        if self._older_in_flight > 0:
            return                  # the server is still busy with requests sent before
        level = max(1, min(self.limit, position if too_many else self._peak))
        self.epoch += 1
        self.decreases += 1
        self.limit = max(1, level // 2)
        self._older_in_flight = self.in_flight
        self._successes = 0
        self._plateau = 0
        self._peak = 0
        if too_many:
            self._overload_level = level
            self._recover_to = max(self.limit, level - 1)
        else:
            self._overload_level = None
            self._recover_to = level
