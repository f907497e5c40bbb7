"""ferry._backoff: growth, cap, reset, jitter bounds."""

import random

from ferry._backoff import Backoff


def take(b, n):
    return [b.next() for _ in range(n)]


def test_doubles_up_to_the_cap():
    assert take(Backoff(0.01, 0.2), 7) == [0.01, 0.02, 0.04, 0.08, 0.16, 0.2, 0.2]


def test_other_factor():
    got = take(Backoff(0.2, 5.0, factor=1.5), 12)
    assert got[:3] == [0.2, 0.30000000000000004, 0.45000000000000007]
    assert got[-1] == 5.0 and all(a <= b for a, b in zip(got, got[1:]))


def test_reset_starts_over():
    b = Backoff(1, 30)
    take(b, 4)
    b.reset()
    assert take(b, 2) == [1, 2]


def test_jitter_within_its_share_and_the_cap():
    b = Backoff(0.1, 1.0, jitter=0.5, rng=random.Random(7))
    nominal, varied = 0.1, False
    for _ in range(50):
        d = b.next()
        assert nominal * 0.5 <= d <= nominal
        varied = varied or d != nominal
        nominal = min(nominal * 2, 1.0)
    assert varied
