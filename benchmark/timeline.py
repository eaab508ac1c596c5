"""Encounter timelines for LSD, LAR and ITR, shared by the mini generator and the construction
pipeline: distinct real dates, which target encounter is the latest, and the order in which the
encounters are handed to the model (never chronological).

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
    """A shuffled order of all encounters in which the target's are not in date order."""
    order = list(range(len(dates)))
    rng.shuffle(order)
    targets = [k for k in order if k < n_targets]
    if targets == sorted(targets, key=lambda k: dates[k]):
        order.reverse()  # never hand the encounters over in chronological order
    return order


def spoken(day: date) -> str:
    """How a dialogue says a date: '3 March 2021'."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
