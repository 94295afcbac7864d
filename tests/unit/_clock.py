"""A clock for budget and throttle tests: time moves only when something sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta


class ManualClock:
    """``now()`` is ``current``; ``sleep`` records the wait and moves ``current`` on."""

    def __init__(self, now: datetime) -> None:
        self.current = now
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)
