"""CalibratedMath (Lin, Hilton & Evans 2022, "Teaching Models to Express Their Uncertainty in
Words"): seeded arithmetic questions with difficulty levels, as open QA with numeric answers.

The task list follows the public ``sylinrl/CalibratedMath`` ``configs.py``: 15 single-answer
operations, each at the operand-digit settings ``(n1, n2)`` listed there, plus a variant with
thousands commas (``1,234``) for the settings the list has one for (shown operands of 4+
digits; for division, modulo and remainder when ``n1 + n2 >= 4``): 180 tasks. The paper trains
on the add-subtract group and evaluates on multiply-divide: ``split="train"`` and ``"test"``.
The multi-answer tasks (``Name any prime number smaller than 40``) are left out: they have no
single gold answer.

Question wording is the original's without its ``Q:``/``A:`` frame. Operands have exactly
``n1``/``n2`` digits and are swapped with probability 1/2 where order does not matter to the
setup (so subtraction can be negative). Division questions are built from a product (``x1*x2 /
x2``, always exact); floor division, modulo and remainder add a random remainder below the
divisor. Percentages use 10%..90% of multiples of 10 and 25%/75% of multiples of 4 (integer
answers). Rounding to the nearest 5, 10 or 100 rounds halves up (``25`` to the nearest 10 is
``30``; the original's Python ``round`` rounds halves to even). Fraction reduction shows
``p*k / q*k`` with ``p < q`` of ``n1``/``n2`` digits and ``k`` in 1..10; the answer is the reduced
fraction, and only that form is accepted (``meta["match"] == "fraction"``). Sequences show
``a, a+d, a+2d, a+3d`` and ask for ``a+4d``.

Each example: ``subject`` = ``<operation>/<digits>`` (``multiplication/2`` when ``n1 == n2``,
``addition/1-4``, with ``/comma`` for the comma variant), ``gold`` = the answer as plain digits
(or ``p/q``), an alias with commas for integers of 4+ digits, and ``meta`` with ``match``,
``operation``, ``group``, ``n1``, ``n2`` and ``comma``. A task's questions depend only on the
seed and the task, not on which other tasks are generated.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from confalign.data._stable import stable_rng
from confalign.data.example import QAExample

Group = Literal["add_subtract", "multiply_divide"]
SPLIT_GROUPS: dict[str, tuple[Group, ...]] = {
    "train": ("add_subtract",),
    "test": ("multiply_divide",),
    "all": ("add_subtract", "multiply_divide"),
}
PERCENTS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 25, 75)
ROUND_TO = (5, 10, 100)


@dataclass(frozen=True)
class Operation:
    """One operation of the task list: its original symbol, our name, group and settings."""

    symbol: str
    name: str
    group: Group
    pairs: tuple[tuple[int, int], ...]
    comma: Callable[[int, int], bool]


_ADD_PAIRS = tuple((i, j) for i in range(1, 6) for j in range(i, 6))  # n1 <= n2 <= 5
_MUL_PAIRS = ((1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 2), (2, 3))
_SAME = ((2, 2), (3, 3), (4, 4), (5, 5))
_SEQ_PAIRS = ((1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3))


def _wide(a: int, b: int) -> bool:
    return max(a, b) >= 4


def _product(a: int, b: int) -> bool:
    return a + b >= 4


def _never(a: int, b: int) -> bool:
    return False


OPERATIONS: tuple[Operation, ...] = (
    Operation("+", "addition", "add_subtract", _ADD_PAIRS, _wide),
    Operation("-", "subtraction", "add_subtract", _ADD_PAIRS, _wide),
    Operation("v+", "addition_alt", "add_subtract", _ADD_PAIRS, _wide),
    Operation("v-", "subtraction_alt", "add_subtract", _ADD_PAIRS, _wide),
    Operation("round", "rounding", "add_subtract", _SAME, _wide),
    Operation("seq", "arithmetic_sequence", "add_subtract", _SEQ_PAIRS, _never),
    Operation("3+", "addition_3step", "add_subtract", ((1, 1),), _never),
    Operation("*", "multiplication", "multiply_divide", _MUL_PAIRS, _wide),
    Operation("%", "percentage", "multiply_divide", _SAME, _wide),
    Operation("/", "division", "multiply_divide", _MUL_PAIRS, _product),
    Operation("//", "floor_division", "multiply_divide", _MUL_PAIRS, _product),
    Operation("mod", "modulo", "multiply_divide", _MUL_PAIRS, _product),
    Operation("remain", "remainder", "multiply_divide", _MUL_PAIRS, _product),
    Operation("frac", "fraction_reduction", "multiply_divide", _MUL_PAIRS, _never),
    Operation("3*", "multiplication_3step", "multiply_divide", ((1, 1),), _never),
)
OPERATION_NAMES = {op.name: op for op in OPERATIONS}


@dataclass(frozen=True)
class Task:
    op: Operation
    n1: int
    n2: int
    comma: bool

    @property
    def subject(self) -> str:
        digits = str(self.n1) if self.n1 == self.n2 else f"{self.n1}-{self.n2}"
        return f"{self.op.name}/{digits}" + ("/comma" if self.comma else "")


def tasks(groups: Sequence[Group] = ("add_subtract", "multiply_divide")) -> list[Task]:
    """Every task (operation, digits, comma variant) of the given groups."""
    out = []
    for op in OPERATIONS:
        if op.group in groups:
            for n1, n2 in op.pairs:
                out.append(Task(op, n1, n2, False))
                if op.comma(n1, n2):
                    out.append(Task(op, n1, n2, True))
    return out


def _digits(rng: random.Random, n: int) -> int:
    return rng.randrange(10 ** (n - 1), 10**n)


def _pair(rng: random.Random, t: Task) -> tuple[int, int]:
    x1, x2 = _digits(rng, t.n1), _digits(rng, t.n2)
    return (x2, x1) if rng.randrange(2) else (x1, x2)


def _question(rng: random.Random, t: Task, show: Callable[[int], str]) -> tuple[str, str]:
    """One question of task ``t`` and its answer text."""
    s = t.op.symbol
    if s in ("+", "-", "*", "v+", "v-"):
        x1, x2 = _pair(rng, t)
        answer = {"+": x1 + x2, "v+": x1 + x2, "-": x1 - x2, "v-": x1 - x2, "*": x1 * x2}[s]
        if s == "v+":
            return f"What is {show(x2)} more than {show(x1)}?", str(answer)
        if s == "v-":
            return f"What is {show(x2)} less than {show(x1)}?", str(answer)
        return f"What is {show(x1)} {s} {show(x2)}?", str(answer)
    if s in ("/", "//", "mod", "remain"):
        x1, x2 = _pair(rng, t)
        dividend = x1 * x2 + (rng.randrange(x2) if s != "/" else 0)
        quotient, rest = divmod(dividend, x2)
        answer = quotient if s in ("/", "//") else rest
        if s == "remain":
            q = f"What is the remainder when {show(dividend)} is divided by {show(x2)}?"
            return q, str(answer)
        return f"What is {show(dividend)} {s} {show(x2)}?", str(answer)
    if s == "%":
        pct = rng.choice(PERCENTS)
        step = 10 if pct % 10 == 0 else 4
        lo, hi = -(-(10 ** (t.n1 - 1)) // step), -(-(10**t.n1) // step)
        x = step * rng.randrange(lo, hi)
        return f"What is {pct}% of {show(x)}?", str(x * pct // 100)
    if s == "round":
        x, m = _digits(rng, t.n1), rng.choice(ROUND_TO)
        return f"What is {show(x)} rounded to the nearest {m}?", str((x + m // 2) // m * m)
    if s == "seq":
        a, d = _digits(rng, t.n1), _digits(rng, t.n2)
        shown = ", ".join(show(a + i * d) for i in range(4))
        return f"What comes next: {shown}...?", str(a + 4 * d)
    if s == "frac":
        p, q = _digits(rng, t.n1), _digits(rng, t.n2)
        while p == q:
            p, q = _digits(rng, t.n1), _digits(rng, t.n2)
        p, q = min(p, q), max(p, q)
        k = rng.randrange(1, 11)
        r = Fraction(p, q)
        return f"What is {p * k}/{q * k} in reduced form?", f"{r.numerator}/{r.denominator}"
    x = [rng.randrange(1, 10) for _ in range(3)]  # 3+ and 3*
    answer = sum(x) if s == "3+" else x[0] * x[1] * x[2]
    return f"What is {x[0]} {s[1]} {x[1]} {s[1]} {x[2]}?", str(answer)


def generate_task(task: Task, n: int, *, seed: int = 0, split: str = "") -> list[QAExample]:
    """``n`` questions of one task; the same for the same seed and task."""
    rng = stable_rng("calibrated_math", seed, task.op.symbol, task.n1, task.n2, task.comma)
    show: Callable[[int], str] = (lambda x: f"{x:,}") if task.comma else str
    out = []
    for i in range(n):
        question, answer = _question(rng, task, show)
        aliases = (f"{int(answer):,}",) if "/" not in answer and abs(int(answer)) >= 1000 else ()
        out.append(
            QAExample(
                id=f"calibrated_math/{task.subject}/{i}",
                question=question,
                gold=answer,
                aliases=aliases,
                subject=task.subject,
                source="calibrated_math",
                split=split,
                meta={
                    "match": "fraction" if task.op.symbol == "frac" else "numeric",
                    "answer_type": "fraction" if task.op.symbol == "frac" else "integer",
                    "operation": task.op.name,
                    "group": task.op.group,
                    "n1": str(task.n1),
                    "n2": str(task.n2),
                    "comma": "yes" if task.comma else "no",
                },
            )
        )
    return out


def generate_calibrated_math(
    *,
    split: Literal["train", "test", "all"] = "test",
    n_per_task: int = 100,
    seed: int = 0,
    operations: Sequence[str] | None = None,
) -> list[QAExample]:
    """The CalibratedMath questions of ``split`` (train: add-subtract, test: multiply-divide).

    Parameters
    ----------
    split : ``train``, ``test`` or ``all``.
    n_per_task : questions per task (operation x digits x comma variant); the original used 100.
    seed : the generator seed.
    operations : operation names (``"multiplication"``, ...) to keep; None keeps all.
    """
    if split not in SPLIT_GROUPS:
        raise ValueError(
            f"calibrated_math split must be one of {list(SPLIT_GROUPS)}, got {split!r}"
        )
    if n_per_task < 1:
        raise ValueError(f"n_per_task must be >= 1, got {n_per_task}")
    unknown = sorted(set(operations or ()) - set(OPERATION_NAMES))
    if unknown:
        raise ValueError(f"unknown operation(s) {unknown}; known: {', '.join(OPERATION_NAMES)}")
    out = []
    for task in tasks(SPLIT_GROUPS[split]):
        if operations is None or task.op.name in operations:
            label = "train" if task.op.group == "add_subtract" else "test"
            out.extend(generate_task(task, n_per_task, seed=seed, split=label))
    return out
