"""The grader's kernel sockets are polled in short slices: a missed wake-up costs half a second,
not the cell's whole timeout. (Run through nbclient's run_sync, as the grader runs it.)"""

import asyncio
import time
from queue import Empty

import pytest
from nbclient.util import run_sync

from instructor.executor import _polled_in_slices


class MissedWakeUp:
    """A channel whose poll never wakes up early: a message that arrives during a poll is seen
    only when that poll's timeout ends (what pyzmq's asyncio poll sometimes does)."""

    def __init__(self, arrives_after: float | None):
        self.arrives = None if arrives_after is None else time.monotonic() + arrives_after

    async def get_msg(self, timeout: float | None = None) -> dict:
        await asyncio.sleep(timeout)
        if self.arrives is not None and time.monotonic() >= self.arrives:
            return {"msg": "reply"}
        raise Empty


def test_a_message_is_found_within_a_slice_of_its_arrival():
    get_msg = _polled_in_slices(MissedWakeUp(arrives_after=0.2).get_msg, slice_seconds=0.1)
    start = time.monotonic()
    assert run_sync(get_msg)(timeout=120) == {"msg": "reply"}
    assert time.monotonic() - start < 1.0


def test_no_message_still_times_out_on_time():
    get_msg = _polled_in_slices(MissedWakeUp(arrives_after=None).get_msg, slice_seconds=0.1)
    start = time.monotonic()
    with pytest.raises(Empty):
        run_sync(get_msg)(timeout=0.45)
    assert 0.45 <= time.monotonic() - start < 1.0


def test_without_a_timeout_it_waits_until_the_message_comes():
    get_msg = _polled_in_slices(MissedWakeUp(arrives_after=0.3).get_msg, slice_seconds=0.1)
    assert run_sync(get_msg)() == {"msg": "reply"}
