"""The judge on the real embedded model (slow): whatever it thinks of the answers, its replies
must read as verdicts, through the same ``Judge`` the eval and regrade use."""

from __future__ import annotations

import pytest

from confalign.evaluate.judge import VERDICTS, Judge, JudgeItem


@pytest.mark.slow
def test_default_model_as_judge_returns_parseable_verdicts(default_backend: object) -> None:
    items = [
        JudgeItem("What is the capital of France?", "Paris", "Paris is the capital of France."),
        JudgeItem("What is the capital of Nigeria?", "Abuja", "Lagos"),
        JudgeItem("What is the capital of Japan?", "Tokyo", "I don't know."),
        JudgeItem("What is 5 + 7?", "12", "12"),
    ]
    verdicts = Judge(default_backend)(items)  # type: ignore[arg-type]
    assert set(verdicts) == {i.key for i in items}
    for item in items:
        verdict = verdicts[item.key]
        assert verdict.parsed, verdict.raw
        assert verdict.grade in VERDICTS.values()
