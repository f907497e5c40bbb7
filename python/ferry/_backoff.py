"""Exponential back-off for the package's polling and retry loops (one helper, not a copy each)."""

from __future__ import annotations


class Backoff:
    """The delays of one retry loop, in seconds: initial, initial*factor, ... up to maximum.

    With jitter j in (0, 1] each delay is drawn uniformly from [d * (1 - j), d], so clients that
    failed together do not retry together and the cap still holds. It never sleeps itself:
    ``time.sleep(b.next())``. Not thread-safe; one per loop.
    """

    def __init__(self, initial: float, maximum: float, factor: float = 2.0, jitter: float = 0.0,
                 rng: "object" = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = max(1.0, factor)
        self.jitter = min(max(jitter, 0.0), 1.0)
        self._rng = rng  # anything with random() -> [0, 1); the random module when None
        self._current = 0.0

    def next(self) -> float:
        """The delay before the next retry; the one after it is longer (until the cap)."""
        self._current = self.initial if self._current == 0 else self._current * self.factor
        self._current = min(self._current, self.maximum)
        if self.jitter <= 0:
            return self._current
        if self._rng is None:
            import random  # only loops that ask for jitter pay for the import

            self._rng = random
        return self._current * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """After a success: the next failure waits ``initial`` again."""
        self._current = 0.0
