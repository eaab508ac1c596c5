"""Encounter timelines for LSD, LAR and ITR, shared by the mini generator and the construction
pipeline: distinct real dates, which target encounter is the latest, and the order in which the
encounters are handed to the model (the latest one's place among them uniform, never all in
date order).

Dates are `datetime.date`: stored in facts as ISO strings (which sort as dates do) and spoken
in dialogues as "3 March 2021".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
FIRST_YEAR, LAST_YEAR = 2019, 2025


def draw_dates(rng: random.Random, count: int) -> list[date]:
    """`count` distinct dates between 2019 and 2025 (days 1-28, valid in every month)."""
    drawn: set[tuple[int, int, int]] = set()
    while len(drawn) < count:
        drawn.add((rng.randint(FIRST_YEAR, LAST_YEAR), rng.randint(1, 12), rng.randint(1, 28)))
    return [date(*ymd) for ymd in drawn]


def latest(dates: Sequence[date], n_targets: int) -> int:
    """The index of the latest of the first `n_targets` encounters (the target's)."""
    return max(range(n_targets), key=lambda k: dates[k])


def presentation_order(rng: random.Random, dates: Sequence[date], n_targets: int) -> list[int]:
    """An order of all encounters (targets are the first `n_targets`) for the model to read.

    The target's latest encounter is equally likely at each place among the target's
    encounters, so its position says nothing about which one it is; with three or more, the
    target's encounters are never in date order. The other encounters fall anywhere between.
    """
    by_date = sorted(range(n_targets), key=lambda k: dates[k])
    earlier = by_date[:-1]
    rng.shuffle(earlier)
    slot = rng.randrange(n_targets)
    targets = earlier[:slot] + by_date[-1:] + earlier[slot:]
    if n_targets >= 3 and targets == by_date:  # latest last and the rest ascending
        targets[0], targets[1] = targets[1], targets[0]
    others = list(range(n_targets, len(dates)))
    rng.shuffle(others)
    kinds = [True] * n_targets + [False] * len(others)
    rng.shuffle(kinds)
    target_iter, other_iter = iter(targets), iter(others)
    return [next(target_iter) if is_target else next(other_iter) for is_target in kinds]


def spoken(day: date) -> str:
    """How a dialogue says a date: '3 March 2021'."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
