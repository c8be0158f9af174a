"""DCA's preference pairs (docs/design.md "Training methods", Direct Confidence Alignment).

From verbalized records in the ``probability`` format: the response is the model's answer turn
(``free``: its whole output; ``prefill``: ``"Answer: C\\nProbability:"`` written for it, then the
value it generated). Ci is its internal confidence in that very answer on the same prompt
(``extra["answer_ci"]``: the renormalised letter probability for multiple choice, exp(mean
token log-probability) of the answer for open QA). chosen = the response with its value
replaced by ``round(100 * Ci)%``; rejected = the response as it was. Dropped and counted:
responses whose confidence did not parse (or whose cue cannot be found to replace the value),
records without an answer or a Ci, and pairs identical after rounding
(``round(100 * Cv) == round(100 * Ci)``).

Pairs are written as JSONL in TRL's standard preference format: ``prompt`` (the rendered
prompt text, chat template and assistant header included), ``chosen`` and ``rejected`` (the
assistant text, without the end-of-turn token, which TRL appends as ``eos_token`` and so does
``tokenize_pair``), plus the fields that say where each pair came from.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from confalign.backends.packed import TreeItem, common_length
from confalign.confidence.formats import get_format
from confalign.confidence.prompts import prefill_text

PAIR_FORMAT = "probability"
REQUIRED = ("prompt", "chosen", "rejected")


class PairsFileError(ValueError):
    """A pairs file is unreadable or a row lacks a field: the message names file, row, field."""


@dataclass(frozen=True)
class DCAPair:
    """One preference pair and its origin. ``cv``/``ci`` in [0, 1]."""

    example_id: str
    prompt: str
    chosen: str
    rejected: str
    cv: float
    ci: float
    answer: str
    correct: bool | None


@dataclass(frozen=True)
class PairSource:
    """What ``build_pairs`` needs of one verbalized record (a stored ``ResultRow`` has it)."""

    example_id: str
    mode: str
    prediction: str
    correct: bool | None
    confidence: float | None
    raw_text: str | None
    parse_failed: bool
    extra: Mapping[str, Any]


def percent(value: float) -> int:
    """``round(100 * value)``, half away from zero (0.125 -> 13), as a person would round."""
    return int(100 * value + 0.5) if value >= 0 else -int(-100 * value + 0.5)


def chosen_response(response: str, ci: float) -> str | None:
    """``response`` with the value after its last cue replaced by ``round(100 * ci)%`` (the
    rest of that line dropped, later lines kept); None when the cue is not in the text."""
    cue = get_format(PAIR_FORMAT).cue
    matches = list(re.finditer(re.escape(cue), response, flags=re.IGNORECASE))
    if not matches:
        return None
    end = matches[-1].end()
    line_end = response.find("\n", end)
    tail = "" if line_end < 0 else response[line_end:]
    return f"{response[:end]} {percent(ci)}%{tail}"


def build_pairs(
    sources: Iterable[PairSource], prompts: Mapping[str, str]
) -> tuple[list[DCAPair], Counter[str]]:
    """DCA pairs from verbalized ``probability`` records, and the count of each drop reason
    (``parse_failed``, ``no_answer``, ``no_ci``, ``no_cue``, ``identical``) plus ``kept``.

    ``prompts``: example id -> the rendered prompt the response answers (for ``prefill`` the
    prompt before the assistant turn; the written prefix belongs to the response).
    """
    pairs: list[DCAPair] = []
    counts: Counter[str] = Counter()
    fmt = get_format(PAIR_FORMAT)
    for s in sources:
        ci = s.extra.get("answer_ci")
        reason = ""
        if s.parse_failed or s.confidence is None:
            reason = "parse_failed"
        elif not s.prediction:
            reason = "no_answer"
        elif ci is None:
            reason = "no_ci"
        elif percent(s.confidence) == percent(ci):
            reason = "identical"
        if reason:
            counts[reason] += 1
            continue
        raw = (s.raw_text or "").rstrip()
        response = raw if s.mode == "free" else prefill_text(s.prediction, fmt) + raw
        chosen = chosen_response(response, float(ci))
        if chosen is None or chosen == response:
            counts["no_cue" if chosen is None else "identical"] += 1
            continue
        pairs.append(
            DCAPair(
                example_id=s.example_id,
                prompt=prompts[s.example_id],
                chosen=chosen,
                rejected=response,
                cv=float(s.confidence),
                ci=float(ci),
                answer=s.prediction,
                correct=s.correct,
            )
        )
        counts["kept"] += 1
    return pairs, counts


def write_pairs(pairs: Sequence[DCAPair], path: str | os.PathLike[str]) -> Path:
    """Write ``pairs`` as JSONL (atomically: a kill or a full disk leaves the old file or the
    new one, never half of one), with a checksum a rerun checks before reusing it."""
    from confalign.runs import write_checked

    text = "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs)
    return write_checked(path, text)


def read_pairs(path: str | os.PathLike[str]) -> list[DCAPair]:
    """Pairs from a JSONL file with at least ``prompt``/``chosen``/``rejected`` per row (a file
    made for TRL works); raises ``PairsFileError`` naming the file, row and field."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise PairsFileError(f"{path}: cannot read the pairs file ({error})") from None
    names = {f.name for f in fields(DCAPair)}
    pairs = []
    for row, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise PairsFileError(f"{path}: row {row}: not JSON ({error.msg})") from None
        if not isinstance(obj, dict):
            raise PairsFileError(f"{path}: row {row}: expected an object")
        for name in REQUIRED:
            if not isinstance(obj.get(name), str) or not obj[name]:
                raise PairsFileError(f"{path}: row {row}: field {name!r} missing or not text")
        if obj["chosen"] == obj["rejected"]:
            raise PairsFileError(f"{path}: row {row}: chosen and rejected are the same text")
        defaults = {"example_id": f"row{row}", "cv": float("nan"), "ci": float("nan")}
        values = {**defaults, "answer": "", "correct": None}
        values.update({k: v for k, v in obj.items() if k in names})
        pairs.append(DCAPair(**values))
    if not pairs:
        raise PairsFileError(f"{path}: the pairs file holds no pairs")
    return pairs


def tokenize_pair(
    tokenizer: Any, prompt: str, chosen: str, rejected: str, *, add_special_tokens: bool = False
) -> TreeItem:
    """TRL's tokenisation of a standard preference example: prompt and prompt + completion +
    ``eos_token`` are encoded as wholes (so tokens that merge across the boundary are right),
    and the completion starts where the prompt's ids and each joint encoding diverge."""
    eos = tokenizer.eos_token or ""

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])

    p = encode(prompt)
    c = encode(prompt + chosen + (eos if not chosen.endswith(eos) else ""))
    r = encode(prompt + rejected + (eos if not rejected.endswith(eos) else ""))
    n = min(common_length([p, c]), common_length([p, r]))
    return TreeItem(prompt=tuple(c[:n]), completions=(tuple(c[n:]), tuple(r[n:])))
