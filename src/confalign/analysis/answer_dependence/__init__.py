"""Why confidence ignores the answer: ADVICE's four answer-dependence analyses (docs/papers.md).

``run_answer_dependence(AnswerDependenceConfig(...))`` runs, per dataset and verbalized format:
the JSD between the ``distribution``-mode level distributions given the correct and the wrong
answers (``distributions``), answer masking (``distributions``), attention rollout from the
confidence position to the prompt segments (``rollout``) and integrated gradients of the
expected confidence (``attribution``, captum); segments are located on the rendered prompt
(``segments``). Results go to a run directory (``run``) and its summary (``summary``), which
``confalign report`` and ``confalign compare`` show.
"""

from confalign.analysis.answer_dependence.attribution import Attribution, integrated_gradients
from confalign.analysis.answer_dependence.config import AnswerDependenceConfig
from confalign.analysis.answer_dependence.distributions import (
    answer_jsd,
    candidate_answers,
    level_distributions,
    mask_shift,
)
from confalign.analysis.answer_dependence.rollout import (
    attention_rollout,
    eager_attention,
    rollout_row,
)
from confalign.analysis.answer_dependence.run import run_answer_dependence
from confalign.analysis.answer_dependence.segments import SEGMENTS, segment_spans, token_segments

__all__ = [
    "SEGMENTS",
    "AnswerDependenceConfig",
    "Attribution",
    "answer_jsd",
    "attention_rollout",
    "candidate_answers",
    "eager_attention",
    "integrated_gradients",
    "level_distributions",
    "mask_shift",
    "rollout_row",
    "run_answer_dependence",
    "segment_spans",
    "token_segments",
]
