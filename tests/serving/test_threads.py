"""InferenceThreads: a small request runs on the event loop only when it is alone and known to be
quick; everything else, and anything whose cost is not known yet, on a pool thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from service.serving.threads import INLINE_MAX_BYTES, InferenceThreads

BUDGET_S = 0.05


def where() -> str:
    """The thread the call ran on: the loop's (the main thread here) or a pool thread."""
    return "loop" if threading.current_thread() is threading.main_thread() else "pool"


def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return where()


@pytest.fixture
def threads() -> InferenceThreads:
    return InferenceThreads(2, inline_budget_s=BUDGET_S)


def test_a_quick_small_call_runs_on_the_loop_once_its_cost_is_known(threads: InferenceThreads) -> None:
    async def main() -> list[str]:
        return [await threads.run_small("c", 3000, where) for _ in range(3)]

    assert asyncio.run(main()) == ["pool", "loop", "loop"]


def test_sizes_of_another_class_have_a_cost_of_their_own(threads: InferenceThreads) -> None:
    async def main() -> list[str]:
        return [await threads.run_small("c", size, where) for size in (3000, 3500, 9000, 9000)]

    assert asyncio.run(main()) == ["pool", "loop", "pool", "loop"]  # 3000 and 3500 are one class


def test_a_slow_call_keeps_taking_a_thread(threads: InferenceThreads) -> None:
    async def main() -> list[str]:
        return [await threads.run_small("slow", 100, sleepy, 2 * BUDGET_S) for _ in range(2)]

    assert asyncio.run(main()) == ["pool", "pool"]


def test_large_bodies_and_a_zero_budget_never_run_on_the_loop() -> None:
    threads, never = InferenceThreads(1, inline_budget_s=BUDGET_S), InferenceThreads(1, inline_budget_s=0)

    async def main() -> list[str]:
        big = [await threads.run_small("c", INLINE_MAX_BYTES + 1, where) for _ in range(2)]
        return big + [await never.run_small("c", 10, where) for _ in range(2)]

    assert asyncio.run(main()) == ["pool"] * 4


def test_nothing_runs_on_the_loop_while_another_call_is_in_a_thread(threads: InferenceThreads) -> None:
    release = threading.Event()

    async def main() -> tuple[str, str]:
        await threads.run_small("c", 10, where)  # now known to be quick
        blocker = asyncio.ensure_future(threads.run(release.wait))
        await asyncio.sleep(0.01)
        assert threads.in_threads == 1
        beside = await threads.run_small("c", 10, where)
        release.set()
        await blocker
        return beside, await threads.run_small("c", 10, where)

    assert asyncio.run(main()) == ("pool", "loop")


def test_errors_reach_the_caller_either_way_and_the_cost_is_kept(threads: InferenceThreads) -> None:
    def fail(where_it_ran: list[str]) -> None:
        where_it_ran.append(where())
        raise ValueError("bad input")

    async def main() -> list[str]:
        ran: list[str] = []
        for _ in range(2):
            with pytest.raises(ValueError, match="bad input"):
                await threads.run_small("c", 10, fail, ran)
        return ran

    assert asyncio.run(main()) == ["pool", "loop"]
