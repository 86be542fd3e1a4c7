"""Synthetic but plausible records for the benchmarks: many authors, a few
dozen categories, areas clustered in a handful of towns, short titles and
details drawn from a small vocabulary (so text search has realistic hit
counts). Deterministic for a given seed."""

from __future__ import annotations

import random
from collections.abc import Iterator

from crypto import NodeIdentity
from protocol.records import DEFAULT_TTL, Record, build_record

NOW = 1_800_000_000
CATEGORIES = [  # what records from many nodes carry; members of one node post in its own list
    "food", "housing", "transport", "childcare", "eldercare", "clothing", "furniture", "tools",
    "medical", "pharmacy", "legal", "translation", "tutoring", "tech-help", "repairs", "garden",
    "pets", "moving", "cooking", "cleaning", "laundry", "bikes", "phones", "paperwork",
]  # fmt: skip
TOWNS = ["u4pr", "u4px", "gcpv", "dr5r", "9q8y", "c23n"]
COMMON = [
    "rice",
    "beans",
    "flour",
    "oil",
    "milk",
    "bread",
    "eggs",
    "diapers",
    "formula",
    "blanket",
    "coat",
    "boots",
    "heater",
    "fan",
    "chair",
    "table",
    "bed",
    "mattress",
    "stroller",
    "ladder",
    "drill",
    "saw",
    "bike",
    "ride",
    "lift",
    "appointment",
    "clinic",
    "school",
    "homework",
    "english",
    "spanish",
    "forms",
    "rent",
    "bills",
    "phone",
    "laptop",
    "charger",
    "tent",
    "soup",
    "fruit",
    "vegetables",
    "soap",
    "shampoo",
    "towels",
    "sheets",
    "pots",
    "pans",
    "jars",
    "seeds",
    "compost",
    "dog",
    "cat",
    "walk",
    "visit",
    "company",
]
_SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "ka",
    "ke",
    "ki",
    "ko",
    "la",
    "le",
    "li",
    "lo",
    "ma",
    "me",
    "mi",
    "mo",
    "na",
    "ne",
    "ni",
    "no",
    "ra",
    "re",
    "ri",
    "ro",
    "sa",
    "se",
    "si",
    "so",
    "ta",
    "te",
    "ti",
    "to",
]
# Text is drawn Zipf-like, as real text is: a few words are everywhere, most
# are rare. The words members search for sit at ranks 20, 45, 70...: some as
# common as "help", most much rarer.
_FILLER = sorted({a + b + c for a in _SYLLABLES[:16] for b in _SYLLABLES for c in ("", "n", "r")})
WORDS = list(_FILLER)
for _rank, _word in enumerate(COMMON):
    WORDS.insert(20 + 25 * _rank, _word)
_WEIGHTS = [1.0 / (rank + 1) for rank in range(len(WORDS))]
GEOHASH = "0123456789bcdefghjkmnpqrstuvwxyz"
LANGUAGES: list[list[str]] = [["en"], ["es"], ["en", "es"], ["pt-br"], ["so"], []]
"""What posts list: the post form fills in the member's language, so most
list one, the chapter's main language most often, a few a rare one."""
LANGUAGE_WEIGHTS = [70, 15, 8, 4, 1, 2]


def authors(count: int, seed: int = 1) -> list[NodeIdentity]:
    rng = random.Random(seed)
    return [NodeIdentity.from_seed(rng.randbytes(32)) for _ in range(count)]


def records(count: int, *, seed: int, start: int | None = None, end: int = NOW, signers: int = 200) -> Iterator[Record]:
    """``count`` records created between ``start`` (default: 20 days before
    ``end``) and ``end``, oldest first."""
    rng = random.Random(seed)
    spoken = random.Random(f"languages {seed}")  # a stream of its own: the other fields are drawn as before
    identities = authors(signers, seed)
    start = end - 20 * 86_400 if start is None else start
    step = max(1, (end - start) // max(count, 1))
    for index in range(count):
        created = start + index * step + rng.randrange(step)
        kind = "need" if rng.random() < 0.6 else "offer"
        body: dict[str, object] = {
            "kind": kind,
            "slot": f"s{seed}-{index}",
            "created_at": created,
            "expires_at": created + DEFAULT_TTL,
            "status": "open" if rng.random() < 0.85 else "claimed",
            "title": " ".join(rng.choices(WORDS, _WEIGHTS, k=rng.randint(2, 6))).capitalize(),
            "category": rng.choice(CATEGORIES),
            "area": rng.choice(TOWNS) + rng.choice(GEOHASH),
            "details": " ".join(rng.choices(WORDS, _WEIGHTS, k=rng.randint(0, 40))) or "none",
            "tags": rng.sample(COMMON, rng.randint(0, 3)),
            "urgency": rng.choice(["low", "normal", "normal", "high", "urgent"]),
        }
        languages = spoken.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0]
        if languages:
            body["languages"] = languages
        if kind == "need" and rng.random() < 0.5:
            body["give_back"] = "I can help with " + rng.choice(COMMON)
        yield build_record(rng.choice(identities), body)
