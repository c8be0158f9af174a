"""Distractor augmentation: an open question becomes a K+1-way multiple-choice question (the
gold answer and K distractors) so that any multiple-choice confidence method applies to it.

``add_distractors(examples, k=3, seed=0, source="pool")``:

- ``"pool"``: distractors are other questions' gold answers from the same examples, of the same
  answer type when at least ``k`` such answers exist (``meta["answer_type"]``, else ``number``
  for an answer that is one number and ``text`` otherwise), else of any type.
- ``"numeric"``: ``numeric_distractors`` (close wrong numbers, for CalibratedMath).
- a callable ``(example, rng, k) -> list[str]``: your own.

Whatever the source, a distractor never equals the gold answer or an alias
(``matching.same_answer``: as numbers when both are numbers, else after ``normalize_answer``),
and the options are distinct in the same sense; a source that breaks this raises
``ValueError``. The gold position is drawn uniformly from 0..k. Draws use a generator seeded
by ``(seed, example id)``, so one example's options do not depend on the others' order.
The result keeps the id, question, subject and split; ``aliases`` become empty and ``meta``
gains ``open_gold`` (the original answer) and ``distractors`` (the source) and loses
``match`` (a multiple-choice answer is a letter).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Literal

from confalign.data._stable import stable_rng
from confalign.data.example import QAExample
from confalign.data.matching import answer_key, same_answer
from confalign.data.numeric import parse_number

DistractorFn = Callable[[QAExample, random.Random, int], Sequence[str]]


def answer_type(example: QAExample) -> str:
    """The pool an answer belongs to: ``meta["answer_type"]``, else ``number`` or ``text``."""
    if example.meta.get("answer_type"):
        return example.meta["answer_type"]
    return "number" if parse_number(example.gold_text) is not None else "text"


def _int_candidates(n: int) -> set[int]:
    digits = str(abs(n))
    sign = -1 if n < 0 else 1
    out = {n + d for d in (-2, -1, 1, 2)} | ({n - 10, n + 10} if abs(n) >= 10 else set())
    for i, ch in enumerate(digits):  # one digit off by one
        for new in (int(ch) - 1, int(ch) + 1):
            if 0 <= new <= 9 and not (i == 0 and new == 0 and len(digits) > 1):
                out.add(sign * int(digits[:i] + str(new) + digits[i + 1 :]))
    for i in range(len(digits) - 1):  # two neighbouring digits swapped
        swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        if swapped[0] != "0":
            out.add(sign * int(swapped))
    return {c for c in out if c != n and (n < 0 or c >= 0)}


def _fraction_candidates(value: Fraction) -> set[Fraction]:
    p, q = value.numerator, value.denominator
    near = [(p + a, q + b) for a, b in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (2, 1))]
    out = {Fraction(a, b) for a, b in near if b > 0 and (a > 0 or p <= 0)}
    return {c for c in out if c != value and c.denominator > 1}


def numeric_distractors(answer: str, k: int = 3, *, rng: random.Random) -> list[str]:
    """``k`` wrong numbers close to ``answer``: one digit off by one, off by 1, 2 or 10, two
    neighbouring digits swapped (integers); numerator or denominator moved by one, written
    reduced (fractions ``p/q``); off by one or two units of the last decimal (decimals). Never
    equal to the answer, never negative for a non-negative answer.
    """
    token = parse_number(answer)
    if token is None:
        raise ValueError(f"numeric distractors need a number, got {answer!r}")
    value = token.value
    if token.is_fraction:
        cands = sorted(_fraction_candidates(value))
        step = 1
        while len(cands) < k:
            step += 1
            extra = Fraction(value.numerator + step, value.denominator + step)
            if extra != value and extra.denominator > 1 and extra not in cands:
                cands.append(extra)
        texts = [f"{c.numerator}/{c.denominator}" for c in cands]
    elif value.denominator == 1:
        ints = sorted(_int_candidates(int(value)))
        far = int(value) + 3
        while len(ints) < k:
            if far not in ints:
                ints.append(far)
            far += 1
        texts = [str(c) for c in ints]
    else:
        places = len(token.text.split(".")[-1])
        unit = Fraction(1, 10**places)
        cands = [value + d * unit for d in (-2, -1, 1, 2, 3, 4)]
        cands = [c for c in cands if value < 0 or c >= 0]
        texts = [f"{float(c):.{places}f}" for c in cands]
    return rng.sample(texts, k)


def _same(a: str, b: str) -> bool:
    """Equal as answers (``matching.same_answer``; two empty answers are equal too)."""
    return same_answer(a, b) or (not answer_key(a) and not answer_key(b))


def _pool_key(text: str) -> object:
    token = parse_number(text)
    return token.value if token is not None else answer_key(text)


class _Pool:
    """Gold answers of the examples, deduplicated by normalised form, grouped by type."""

    def __init__(self, examples: Sequence[QAExample]) -> None:
        seen: dict[object, str] = {}
        by_type: dict[str, set[str]] = {}
        for ex in examples:
            text = seen.setdefault(_pool_key(ex.gold_text), ex.gold_text)
            by_type.setdefault(answer_type(ex), set()).add(text)
        self.all = sorted(seen.values())
        self.by_type = {t: sorted(v) for t, v in by_type.items()}

    def draw(self, ex: QAExample, rng: random.Random, k: int) -> list[str]:
        typed = self.by_type.get(answer_type(ex), [])
        for candidates in (typed, self.all):
            picked = _draw(candidates, ex, rng, k)
            if picked is not None:
                return picked
        raise ValueError(
            f"example {ex.id!r}: fewer than {k} other distinct answers to draw distractors from"
        )


def _draw(candidates: list[str], ex: QAExample, rng: random.Random, k: int) -> list[str] | None:
    """``k`` valid candidates by rejection sampling, then by a full scan if that stalls."""
    picked: list[str] = []
    for _ in range(20 * k):
        if len(picked) == k or not candidates:
            break
        c = candidates[rng.randrange(len(candidates))]
        if not any(_same(c, a) for a in (*ex.answers, *picked)):
            picked.append(c)
    if len(picked) < k:
        valid = [c for c in candidates if not any(_same(c, a) for a in (*ex.answers, *picked))]
        if len(valid) < k - len(picked):
            return None
        picked += rng.sample(valid, k - len(picked))
    return picked


def add_distractors(
    examples: Sequence[QAExample],
    *,
    k: int = 3,
    seed: int = 0,
    source: Literal["pool", "numeric"] | DistractorFn = "pool",
) -> list[QAExample]:
    """Open-QA ``examples`` as (k+1)-way multiple choice (rules in the module docstring)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    for ex in examples:
        if ex.is_multiple_choice:
            raise ValueError(f"example {ex.id!r} is already multiple choice")
    if source == "pool":
        pool = _Pool(examples)
        make: DistractorFn = pool.draw
    elif source == "numeric":
        make = lambda ex, rng, n: numeric_distractors(ex.gold_text, n, rng=rng)  # noqa: E731
    elif callable(source):
        make = source
    else:
        raise ValueError(f"source must be 'pool', 'numeric' or a function, got {source!r}")
    label = source if isinstance(source, str) else getattr(source, "__name__", "custom")
    out = []
    for ex in examples:
        rng = stable_rng("distractors", seed, ex.id)
        options = [str(d).strip() for d in make(ex, rng, k)]
        _check(ex, options, k)
        position = rng.randrange(k + 1)
        options.insert(position, ex.gold_text)
        meta = {**ex.meta, "open_gold": ex.gold_text, "distractors": label}
        meta.pop("match", None)
        mc = replace(ex, choices=tuple(options), gold=position, aliases=(), meta=meta)
        out.append(mc.validate("add_distractors"))
    return out


def wrong_answers(
    examples: Sequence[QAExample], *, k: int = 3, seed: int = 0
) -> dict[str, tuple[str, ...]]:
    """``k`` plausible wrong answers per open question (by id): close wrong numbers when
    every gold answer is a number (``"numeric"``), other questions' answers otherwise
    (``"pool"``); ``add_distractors``'s rules, so none equals an accepted answer."""
    if not examples:
        return {}
    numeric = all(parse_number(ex.gold_text) is not None for ex in examples)
    mc = add_distractors(examples, k=k, seed=seed, source="numeric" if numeric else "pool")
    return {ex.id: tuple(c for i, c in enumerate(ex.choices) if i != ex.gold) for ex in mc}


def _check(ex: QAExample, options: list[str], k: int) -> None:
    if len(options) != k:
        raise ValueError(f"example {ex.id!r}: expected {k} distractors, got {len(options)}")
    for i, d in enumerate(options):
        if not d:
            raise ValueError(f"example {ex.id!r}: distractor {i} is empty")
        if any(_same(d, a) for a in ex.answers):
            raise ValueError(f"example {ex.id!r}: distractor {d!r} equals an accepted answer")
        if any(_same(d, other) for other in options[:i]):
            raise ValueError(f"example {ex.id!r}: distractor {d!r} is given twice")
