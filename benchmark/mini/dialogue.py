"""Template dialogues (6 turns, User/Model alternating) and multiple-choice questions."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from benchmark.mini import vocab
from benchmark.records import CANNOT_DETERMINE, QA

NOUNS = {
    "pet": ("my dog", "our family pet", "my furry companion"),
    "person": ("my friend", "a colleague of mine", "my neighbor"),
    "toy": ("my robot toy", "the little robot on my shelf", "my favorite toy"),
    "plant": ("my potted plant", "the plant on my windowsill", "my houseplant"),
    "vehicle": ("my car", "the car I drive", "our family car"),
    "building": ("my grandparents' house", "the cottage we rent", "my old home"),
}

# kind -> (pool, opening sentences, question templates)
FACT_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "place": (
        vocab.PLACES,
        ("The best memory I have with {name} is from {place}.",
         "{name} and I spent a whole afternoon at {place}.",
         "I still think about the trip to {place} with {name}."),
        ("Where did the user spend time with {name}?",
         "At which location does the user's story about {name} take place?"),
    ),
    "time": (
        vocab.TIMES,
        ("It all happened {time}.", "This was {time}, I remember it clearly.",
         "We were there {time}."),
        ("When did the user's story about {name} happen?",
         "At what time did the user's outing with {name} take place?"),
    ),
    "event": (
        vocab.EVENTS,
        ("Out of nowhere there was {event} right in front of us.",
         "The highlight was {event} that nobody expected.",
         "We ended up watching {event}."),
        ("What unexpected thing happened while the user was with {name}?",
         "Which event did the user witness together with {name}?"),
    ),
    "activity": (
        vocab.ACTIVITIES,
        ("Later that day I was {activity} while {name} kept me company.",
         "Afterwards we went home and I spent hours {activity} with {name} nearby.",
         "Whenever {name} is around I end up {activity}."),
        ("What was the user doing while {name} kept them company?",
         "Which activity does the user connect with {name}?"),
    ),
    "treat": (
        vocab.TREATS,
        ("We always share {treat} on days like that.",
         "I never see {name} without bringing {treat}.",
         "Our tradition is to celebrate with {treat}."),
        ("What food does the user associate with {name}?",
         "Which treat does the user bring when seeing {name}?"),
    ),
}

_MODEL_REPLIES = (
    ("What a lovely story! {name} sounds wonderful.",
     "That sounds like a day to remember with {name}.",
     "Thank you for telling me about {name}!"),
    ("I can picture it. Tell me more about {name}.",
     "That detail makes {name} easy to remember.",
     "It sounds like {name} means a lot to you."),
    ("I will keep that in mind about {name}.",
     "Noted! I will remember this about {name}.",
     "Thanks for sharing, I will remember {name}."),
)


def _sentence(rng: random.Random, kind: str, name: str, facts: Mapping[str, str]) -> str:
    template = rng.choice(FACT_KINDS[kind][1])
    return template.format(name=name, **{kind: facts[kind]})


def write_dialogue(rng: random.Random, name: str, category: str, facts: Mapping[str, str]) -> str:
    """A 6-turn dialogue that states every fact and names the concept by its pseudonym."""
    kinds = list(facts)
    rng.shuffle(kinds)
    intro = f"This is {name}, {rng.choice(NOUNS[category])}."
    user_turns = [
        f"{intro} {_sentence(rng, kinds[0], name, facts)}",
        " ".join(_sentence(rng, k, name, facts) for k in kinds[1:3]),
        " ".join(_sentence(rng, k, name, facts) for k in kinds[3:]) or f"{name} is special to me.",
    ]
    lines = []
    for user, replies in zip(user_turns, _MODEL_REPLIES):
        lines.append(f"User: {user}")
        lines.append(f"Model: {rng.choice(replies).format(name=name)}")
    return "\n".join(lines)


def write_qas(
    rng: random.Random, name: str, facts: Mapping[str, str], kinds: list[str],
    taken: set[str], concept_index: int, others: Sequence[Mapping[str, str]] = (),
) -> tuple[QA, ...]:
    """One question per fact kind. Its wrong options are the same kind of fact told about
    other concepts of the sample (`others`), so that only knowing whose fact is whose answers
    it; values never used in the sample fill in where the sample has fewer than two."""
    qas = []
    for q, kind in enumerate(kinds, start=1):
        pool, _, questions = FACT_KINDS[kind]
        told = sorted({o[kind] for o in others if kind in o} - {facts[kind]})
        distractors = rng.sample(told, min(2, len(told)))
        distractors += rng.sample([v for v in pool if v not in taken], 2 - len(distractors))
        texts = [facts[kind], *distractors]
        rng.shuffle(texts)
        qas.append(
            QA(
                id=f"c{concept_index}_Q{q}",
                question=rng.choice(questions).format(name=name),
                options=(*texts, CANNOT_DETERMINE),  # type: ignore[arg-type]
                correct_answer="ABC"[texts.index(facts[kind])],
            )
        )
    return tuple(qas)


def encounter_dialogue(
    rng: random.Random, name: str, category: str, date: str, place: str, action: str,
    keyword: str = "",
) -> str:
    """A 6-turn dialogue about meeting a concept once: when, where, and what the user was doing.

    With a keyword, the user also asks the model to bring the word up at the next sighting.
    """
    noun = rng.choice(NOUNS[category])
    first = rng.choice((
        f"Look, this is {name}, {noun}. I saw {name} on {date} at {place}.",
        f"On {date} I ran into {name}, {noun}, at {place}.",
        f"Here is {name}, {noun}. We crossed paths at {place} on {date}.",
    ))
    second = rng.choice((
        f"I was {action} when it happened.",
        f"At that moment I was {action}.",
        f"I remember I was busy {action} right then.",
    ))
    third = (
        f"Please do me a favor: the next time you see {name}, say the word '{keyword}' to me."
        if keyword else rng.choice((f"{name} looked happy that day.", "It made my day."))
    )
    replies = [rng.choice(r).format(name=name) for r in _MODEL_REPLIES]
    if keyword:
        replies[2] = f"Understood. When {name} shows up again I will say '{keyword}'."
    turns = (first, second, third)
    return "\n".join(f"User: {u}\nModel: {m}" for u, m in zip(turns, replies))
