"""Concept appearances: a category and a set of distinctive visual attributes.

A hard negative keeps the category and most attributes of a concept and changes a few, the way
two tabby cats or two red cars differ.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

# Saturated colours only: the scene backgrounds are muted, so an object's colours stand out.
PALETTE = {
    "red": (214, 40, 40),
    "orange": (245, 130, 20),
    "yellow": (240, 200, 30),
    "lime": (140, 200, 40),
    "green": (30, 140, 60),
    "teal": (20, 160, 160),
    "sky": (60, 160, 235),
    "blue": (30, 60, 190),
    "purple": (120, 50, 170),
    "magenta": (210, 40, 160),
    "pink": (245, 120, 170),
    "brown": (130, 75, 30),
}
SKIN_TONES = ((241, 194, 150), (224, 172, 105), (198, 134, 66), (141, 85, 36))
CATEGORIES = ("pet", "person", "toy", "plant", "vehicle", "building")

# Per category: which attributes are colours, and which are shape choices.
_COLOUR_ATTRS = {
    "pet": ("body", "pattern_colour", "collar"),
    "person": ("shirt", "hair", "hat", "trousers"),
    "toy": ("body", "head", "eyes", "antenna"),
    "plant": ("pot", "leaves", "flower", "band"),
    "vehicle": ("body", "roof", "stripe", "hubcap"),
    "building": ("wall", "roof", "door", "shutters"),
}
_SHAPE_ATTRS: dict[str, dict[str, tuple[str, ...]]] = {
    "pet": {"pattern": ("plain", "spots", "stripes"), "ears": ("pointy", "round", "floppy")},
    "person": {
        "shirt_pattern": ("plain", "stripes", "dots"), "hat_style": ("none", "cap", "beanie"),
    },
    "toy": {"emblem": ("circle", "star", "square"), "arms": ("up", "down")},
    "plant": {"pot_shape": ("round", "square", "tall"), "flowers": ("1", "2", "3")},
    "vehicle": {"roof_shape": ("sedan", "van", "pickup"), "wheels": ("2", "3")},
    "building": {"windows": ("2", "4", "6"), "roof_shape": ("gable", "flat", "dome")},
}


@dataclass(frozen=True)
class Appearance:
    """What a concept looks like: a category plus attribute values (sorted key/value pairs)."""

    category: str
    attributes: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str:
        return dict(self.attributes)[key]

    def colour(self, key: str) -> tuple[int, int, int]:
        return PALETTE[self.get(key)]


def sample_appearance(rng: random.Random, category: str) -> Appearance:
    colour_keys = _COLOUR_ATTRS[category]
    colours = rng.sample(sorted(PALETTE), len(colour_keys))
    attrs = dict(zip(colour_keys, colours))
    for key, choices in _SHAPE_ATTRS[category].items():
        attrs[key] = rng.choice(choices)
    if category == "person":
        attrs["skin"] = str(rng.randrange(len(SKIN_TONES)))
    return Appearance(category, tuple(sorted(attrs.items())))


def hard_negative(rng: random.Random, base: Appearance, n_changes: int = 2) -> Appearance:
    """Same category, `n_changes` attributes changed (at least one of them a colour)."""
    attrs = dict(base.attributes)
    colour_keys = list(_COLOUR_ATTRS[base.category])
    shape_keys = list(_SHAPE_ATTRS[base.category])
    to_change = [rng.choice(colour_keys)]
    others = [k for k in colour_keys + shape_keys if k not in to_change]
    to_change += rng.sample(others, n_changes - 1)
    for key in to_change:
        if key in _SHAPE_ATTRS[base.category]:
            choices = [c for c in _SHAPE_ATTRS[base.category][key] if c != attrs[key]]
        else:
            used = {attrs[k] for k in colour_keys}
            choices = [c for c in sorted(PALETTE) if c not in used]
        attrs[key] = rng.choice(choices)
    return replace(base, attributes=tuple(sorted(attrs.items())))
