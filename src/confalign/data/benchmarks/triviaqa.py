"""TriviaQA (Joshi et al. 2017), open QA without context: ``mandarjoshi/trivia_qa``, config
``rc.nocontext``.

Hub schema (used fields): ``question`` (str), ``question_id`` (str), ``answer`` {``value``
(str), ``aliases`` (list of str), ``normalized_aliases``, ``normalized_value``,
``matched_wiki_entity_name``, ``type`` (``WikipediaEntity``, ``Numerical``, ``FreeForm``, ...)};
also ``question_source``, ``entity_pages``, ``search_results`` (empty in the nocontext
configs). Sizes: train 138,384 / validation 17,944 / test 17,210; the test answers are not
public, so ``validation`` is the evaluation split (as in lm-evaluation-harness).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confalign.data.benchmarks.base import Benchmark, per_row
from confalign.data.example import QAExample
from confalign.data.rows import RowProblem, get, text, text_list


def convert(row: Mapping[str, Any], number: int, split: str) -> QAExample:
    answer = get(row, "answer")
    if not isinstance(answer, Mapping):
        raise RowProblem("answer", f"expected an object, got {type(answer).__name__}")
    value = text(answer, "value")
    aliases: list[str] = []
    for alias in text_list(answer, "aliases"):
        if alias and alias != value and alias not in aliases:
            aliases.append(alias)
    kind = str(answer.get("type") or "").strip()
    return QAExample(
        id=f"triviaqa/{text(row, 'question_id')}",
        question=text(row, "question"),
        gold=value,
        aliases=tuple(aliases),
        source="trivia_qa",
        split=split,
        meta={"answer_type": kind} if kind else {},
    )


SPEC = Benchmark(
    name="trivia_qa",
    description="TriviaQA (rc.nocontext), open QA with answer aliases",
    splits=("validation", "train"),
    default_split="validation",
    converter=per_row(convert),
    hub_id="mandarjoshi/trivia_qa",
    config="rc.nocontext",
    sizes={"train": 138384, "validation": 17944},
    unlabeled_splits=("test",),
)
