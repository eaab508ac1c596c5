"""Encounter timelines for LSD, LAR and ITR, shared by the mini generator and the construction
pipeline: the target and its distractors met equally often, distinct real dates, and the order
in which the encounters are handed to the model (each individual's latest one equally likely at
each of its places, never all in date order).

Dates are `datetime.date`: stored in facts as ISO strings (which sort as dates do) and spoken
in dialogues as "3 March 2021".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Encounter:
    """One meeting with one individual (0 is the target): its slot values."""

    individual: int
    day: date
    place: str
    action: str
    keyword: str = ""


@dataclass(frozen=True)
class EncounterPlan:
    """Every encounter of an item, in the order the model reads them."""

    encounters: tuple[Encounter, ...]

    @property
    def target_positions(self) -> tuple[int, ...]:
        return tuple(i for i, e in enumerate(self.encounters) if e.individual == 0)

    @property
    def latest(self) -> Encounter:
        """The target's latest encounter: the answer of LSD and LAR."""
        return max((e for e in self.encounters if e.individual == 0), key=lambda e: e.day)

    @property
    def keyword(self) -> str:
        """The target's planted keyword (ITR), or ''."""
        return next((e.keyword for e in self.encounters if e.individual == 0 and e.keyword), "")


def plan_encounters(rng: random.Random, individuals: int, per_individual: int,
                    places: Sequence[str], actions: Sequence[str],
                    keywords: Sequence[str] = ()) -> EncounterPlan:
    """Encounters with the target and its distractors, alike in everything the text shows.

    Every individual is met `per_individual` times; dates, places and actions are drawn the
    same way for all; with `keywords`, every individual plants one of its own in one of its
    encounters. Each individual's encounters are ordered by one rule (its latest equally
    likely at each of its places, never all in date order from three on) and the individuals
    interleaved at random: how often a name is told, where, and in what date order says
    nothing about which individual the query shows.
    """
    total = individuals * per_individual
    days = draw_dates(rng, total)
    drawn_places = rng.sample(list(places), total)
    drawn_actions = rng.sample(list(actions), total)
    own_keywords = rng.sample(list(keywords), individuals) if keywords else []
    groups = []
    for who in range(individuals):
        mine = range(who * per_individual, (who + 1) * per_individual)
        planted = rng.choice(mine) if own_keywords else -1
        encounters = [Encounter(who, days[k], drawn_places[k], drawn_actions[k],
                                own_keywords[who] if k == planted else "") for k in mine]
        groups.append(iter(_one_individual_order(rng, encounters)))
    turns = [who for who in range(individuals) for _ in range(per_individual)]
    rng.shuffle(turns)
    return EncounterPlan(tuple(next(groups[who]) for who in turns))


def _one_individual_order(rng: random.Random, encounters: list[Encounter]) -> list[Encounter]:
    """The latest encounter equally likely at each place; never all ascending from three."""
    by_date = sorted(encounters, key=lambda e: e.day)
    earlier = by_date[:-1]
    rng.shuffle(earlier)
    slot = rng.randrange(len(by_date))
    ordered = earlier[:slot] + by_date[-1:] + earlier[slot:]
    if len(ordered) >= 3 and ordered == by_date:  # latest last and the rest ascending
        ordered[0], ordered[1] = ordered[1], ordered[0]
    return ordered


def spoken(day: date) -> str:
    """How a dialogue says a date: '3 March 2021'."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
