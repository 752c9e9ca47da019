"""Seeded offline task generators (no downloads): PE2's arithmetic and counterfactual-base tasks and
Instruction-Induction-style string tasks. Same name, seed and sizes give the same dataset, always."""

from __future__ import annotations

import random
from collections.abc import Callable

from opendgm.prompts.data import Dataset, Example, split_examples

GENERATOR_VERSION = "1"
# One string keeps the list compact; ruff's SIM905 prefers a literal, one word per line.
WORDS = (  # noqa: SIM905
    "apple banana cherry dragon eagle forest garden harbor island jungle kettle lemon mirror needle "
    "orange pencil quartz rabbit silver tomato umbrella violet window yellow zebra anchor bottle candle "
    "dinner engine falcon guitar hammer insect jacket kitten ladder magnet napkin object parrot rocket "
    "saddle tunnel velvet wallet basket cactus donkey feather goblet helmet button carpet dolphin finger "
    "ginger honey iceberg jelly kingdom lantern marble nectar oyster pepper quiver ribbon sunset thunder "
    "unicorn valley walnut yogurt bridge castle desert embers flower glacier horizon igloo journey kernel "
    "lizard meadow nickel orchard puzzle raven shadow timber upload vessel whistle breeze copper doodle "
    "fossil gravel hollow lagoon mango noodle pillow riddle spider turtle voyage wizard"
).split()
ITEMS = ("apples", "marbles", "stickers", "books", "coins", "pencils")
NAMES = ("Tom", "Ana", "Lee", "Maya", "Sam", "Ivy")

Make = Callable[[random.Random], tuple[str, str]]


def arithmetic(rng: random.Random) -> tuple[str, str]:
    """A 2-4 step word problem whose answer is a non-negative integer (MultiArith style)."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    total = rng.randint(3, 20)
    sentences = [f"{name} has {total} {item}."]
    for _ in range(rng.randint(2, 4)):
        if total > 2 and rng.random() < 0.5:
            amount = rng.randint(1, total - 1)
            total -= amount
            sentences.append(f"{name} gives away {amount}.")
        else:
            amount = rng.randint(1, 12)
            total += amount
            sentences.append(f"{name} buys {amount} more.")
    sentences.append(f"How many {item} does {name} have now?")
    return " ".join(sentences), str(total)


def to_base(value: int, base: int) -> str:
    digits = "0123456789abcdef"
    out = ""
    while True:
        value, rest = divmod(value, base)
        out = digits[rest] + out
        if value == 0:
            return out


def base_addition(base: int) -> Make:
    """Two-digit addition written in `base` (PE2's counterfactual arithmetic)."""

    def make(rng: random.Random) -> tuple[str, str]:
        a, b = rng.randint(base, base * base - 1), rng.randint(base, base * base - 1)
        return f"{to_base(a, base)}+{to_base(b, base)}", to_base(a + b, base)

    return make


def second_letter(rng: random.Random) -> tuple[str, str]:
    word = rng.choice(WORDS)
    return word, word[1]


def reverse(rng: random.Random) -> tuple[str, str]:
    word = rng.choice(WORDS)
    return word, word[::-1]


def sort_words(rng: random.Random) -> tuple[str, str]:
    words = rng.sample(WORDS, rng.randint(3, 5))
    return ", ".join(words), ", ".join(sorted(words))


GENERATORS: dict[str, Make] = {
    "arithmetic": arithmetic,
    "base8": base_addition(8),
    "base9": base_addition(9),
    "base11": base_addition(11),
    "base16": base_addition(16),
    "second_letter": second_letter,
    "reverse": reverse,
    "sort_words": sort_words,
}


def generate(name: str, sizes: tuple[int, int, int] = (20, 20, 50), seed: int = 0) -> Dataset:
    """The built-in dataset `name` with distinct inputs, cut into train/dev/test of `sizes`."""
    if name not in GENERATORS:
        raise ValueError(f"unknown built-in dataset {name!r}; choose from {', '.join(sorted(GENERATORS))}")
    make, rng, wanted = GENERATORS[name], random.Random(f"{name}:{seed}"), sum(sizes)
    seen: dict[str, str] = {}
    for _ in range(wanted * 50):  # bounded: a tiny input space fails loudly instead of looping
        question, answer = make(rng)
        seen.setdefault(question, answer)
        if len(seen) == wanted:
            break
    else:
        raise ValueError(f"{name}: only {len(seen)} distinct inputs exist; ask for fewer than {wanted}")
    examples = [Example(f"{name}-{i:04d}", q, a) for i, (q, a) in enumerate(seen.items())]
    version = f"gen{GENERATOR_VERSION}:s{seed}:{sizes[0]}/{sizes[1]}/{sizes[2]}"
    return split_examples(name, version, examples, sizes)
