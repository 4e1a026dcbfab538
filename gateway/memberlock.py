"""Per-member serialisation inside one process.

Commits are optimistic (a stale read makes the commit script refuse, and the
claim is adjudicated again). Claims of one member that reach the same process
at once would mostly refuse each other; queueing them on a per-member lock
turns that into one read and one commit each. Claims of different members
never wait on each other. Across processes the optimistic check still decides.
"""

from __future__ import annotations

import asyncio
import collections


class MemberLocks:
    """A lock per member: :meth:`acquire`, then :meth:`release` in a ``finally``. Only
    members held have an entry; taking a free lock makes no future."""

    def __init__(self) -> None:
        # psn_no -> the futures of the claims waiting behind the holder, in order.
        self._waiters: dict[str, collections.deque[asyncio.Future[None]]] = {}

    async def acquire(self, psn_no: str) -> None:
        waiters = self._waiters.get(psn_no)
        if waiters is None:  # nobody holds it
            self._waiters[psn_no] = collections.deque()
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed over as it was cancelled
                self.release(psn_no)
            raise

    def release(self, psn_no: str) -> None:
        """Hand the lock to the next waiter still waiting, or free it."""
        waiters = self._waiters[psn_no]
        while waiters:
            turn = waiters.popleft()
            if not turn.done():  # a cancelled waiter has left
                turn.set_result(None)
                return
        del self._waiters[psn_no]

    def __len__(self) -> int:
        return len(self._waiters)
