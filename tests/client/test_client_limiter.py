"""The adaptive concurrency limiter and the rate cap, driven directly."""

from __future__ import annotations

import asyncio
import time

import pytest

from sync.limiter import PLATEAU_WINDOWS, AdaptiveLimiter, Ticket


async def fill(limiter: AdaptiveLimiter, n: int) -> list[Ticket]:
    return [await limiter.acquire() for _ in range(n)]


def succeed(limiter: AdaptiveLimiter, windows: int) -> None:
    """``windows`` windows of successes of requests sent in the current epoch."""
    for _ in range(windows):
        for _ in range(limiter.limit):
            limiter.on_success((limiter.epoch, 1))


def refuse(limiter: AdaptiveLimiter, tickets: list[Ticket]) -> None:
    """These requests come back 429 (each released first, as the client does)."""
    for ticket in tickets:
        limiter.release(ticket)
        limiter.on_overload(ticket, too_many=True)


async def test_starts_at_the_ceiling_and_never_exceeds_it():
    limiter = AdaptiveLimiter(8)
    assert limiter.limit == 8
    succeed(limiter, 10)
    assert limiter.limit == 8


async def test_a_wave_of_429s_halves_once_and_finds_the_servers_cap():
    limiter = AdaptiveLimiter(32)
    tickets = await fill(limiter, 32)
    refuse(limiter, tickets[20:] + tickets[16:20])  # a server capped at 16 refuses 17..32
    assert limiter.decreases == 1
    assert limiter.limit == 10                      # half of 21, the first refused position
    for ticket in tickets[:16]:                     # the 16 the server took come back
        limiter.release(ticket)
        limiter.on_success(ticket)
    assert limiter.limit == 10                      # sent before the decrease: not counted
    succeed(limiter, 1)
    assert limiter.limit == 16                      # regained up to the cap at once ...
    succeed(limiter, PLATEAU_WINDOWS - 1)
    assert limiter.limit == 16                      # ... and held there before probing
    succeed(limiter, 1)
    assert limiter.limit == 17


async def test_429s_sent_while_the_server_is_still_busy_do_not_halve_again():
    limiter = AdaptiveLimiter(8)
    tickets = await fill(limiter, 8)
    refuse(limiter, [tickets[-1]])                  # limit 4; 7 older requests still out
    assert limiter.limit == 4 and limiter.in_flight == 7
    for ticket in tickets[:4]:
        limiter.release(ticket)                     # in flight 3 (< 4): one new request
    retry = await limiter.acquire()
    refuse(limiter, [retry])                        # the server still had the older ones
    assert limiter.limit == 4 and limiter.decreases == 1
    for ticket in tickets[4:7]:
        limiter.release(ticket)
    fresh = await limiter.acquire()
    refuse(limiter, [fresh])                        # now it is news
    assert limiter.limit == 1 and limiter.decreases == 2


async def test_halving_stops_at_one():
    limiter = AdaptiveLimiter(4)
    for _ in range(6):
        refuse(limiter, [await limiter.acquire()])
    assert limiter.limit == 1


async def test_after_a_429_at_the_ceiling_it_holds_just_below_then_probes():
    limiter = AdaptiveLimiter(64)
    tickets = await fill(limiter, 33)
    refuse(limiter, [tickets[-1]])                  # 33 in flight was one too many
    assert limiter.limit == 16
    succeed(limiter, 1)
    assert limiter.limit == 32                      # doubling back up quickly
    succeed(limiter, PLATEAU_WINDOWS - 1)
    assert limiter.limit == 32                      # holding below the last 429
    succeed(limiter, 1)
    assert limiter.limit == 33                      # one careful probe
    succeed(limiter, 2)
    assert limiter.limit == 34                      # 33 held: growing again


async def test_after_a_503_it_regains_the_level_itself():
    limiter = AdaptiveLimiter(16)
    tickets = await fill(limiter, 16)
    for ticket in tickets:
        limiter.release(ticket)
    limiter.on_overload(tickets[0], too_many=False)
    assert limiter.limit == 8
    succeed(limiter, 1)
    assert limiter.limit == 16


async def test_a_503_decrease_uses_the_requests_really_in_flight():
    limiter = AdaptiveLimiter(64)                   # only 10 requests ever run together
    tickets = await fill(limiter, 10)
    for ticket in tickets:
        limiter.release(ticket)
    limiter.on_overload(tickets[0], too_many=False)
    assert limiter.limit == 5


async def test_waiters_get_slots_in_order_and_the_limit_holds():
    limiter = AdaptiveLimiter(2)
    first = await fill(limiter, 2)
    order: list[int] = []
    tickets: list[Ticket] = []

    async def wait(n: int) -> None:
        tickets.append(await limiter.acquire())
        order.append(n)

    tasks = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert order == [] and limiter.in_flight == 2
    limiter.release(first[0])
    await asyncio.sleep(0)
    assert order == [0] and limiter.in_flight == 2
    limiter.release(first[1])
    limiter.release(tickets[0])
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2] and limiter.in_flight == 2


async def test_a_cancelled_waiter_does_not_leak_a_slot():
    limiter = AdaptiveLimiter(1)
    ticket = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release(ticket)                         # hands the slot to the waiter ...
    waiter.cancel()                                 # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.in_flight == 0
    await asyncio.wait_for(limiter.acquire(), 1)


async def test_rate_cap_spaces_requests():
    limiter = AdaptiveLimiter(16, rate=50)
    started = time.monotonic()
    for _ in range(11):
        limiter.release(await limiter.acquire())
    elapsed = time.monotonic() - started
    assert 0.19 <= elapsed < 0.6                    # 10 gaps of 20 ms


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        AdaptiveLimiter(0)
    with pytest.raises(ValueError):
        AdaptiveLimiter(4, rate=-1)
