"""DCA (Direct Confidence Alignment) as a training method: DPO/IPO on ``dca_data``'s pairs.

Data: the untrained model's verbalized ``probability`` responses on the training split become
pairs (chosen: the value replaced by round(100 * Ci)%; ``dca_data``), or ``--pairs-file``'s.
Preparation: the reference log-probabilities, the same model's with the adapter disabled,
computed once per pair and carried in the records, so no epoch runs the reference again.
Each training step runs one packed forward per pair (``train.packing``): the prompt and the
common start of chosen and rejected once, then their differing tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from confalign.train.dca_data import (
    PAIR_FORMAT,
    DCAPair,
    PairSource,
    build_pairs,
    read_pairs,
)
from confalign.train.methods.base import (
    DataContext,
    TrainingMethod,
    TrainingRunError,
    option,
)
from confalign.train.preference import (
    PreferenceOptions,
    options_loss,
    pair_layout,
    prepare_reference,
    records,
)

MODES = ("free", "prefill", "distribution")


@dataclass(frozen=True)
class DCAOptions(PreferenceOptions):
    """DCA's own settings (module docstring) beside the preference options."""

    loss: str = option("ipo", "Preference loss: ipo (DCA's), sigmoid (DPO) or cal_dpo.")
    mode: Literal["free", "prefill"] = option(
        "prefill", "Response elicitation: free (the paper) or prefill (small models)."
    )
    eval_modes: tuple[str, ...] = option(
        ("prefill", "distribution"), "Verbalized modes of the before/after evaluation."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("free", "prefill"):
            raise TrainingRunError(f"mode: must be free or prefill, got {self.mode!r}")
        for m in self.eval_modes:
            if m not in MODES:
                known = ", ".join(MODES)
                raise TrainingRunError(f"eval-modes: unknown mode {m!r} (known: {known})")


def build(ctx: DataContext, options: DCAOptions) -> tuple[list[DCAPair], Any]:
    """The pairs (``--pairs-file``'s, or from the untrained model's responses) and counts."""
    from collections import Counter

    from confalign.backends.base import Prompt
    from confalign.confidence.formats import get_format
    from confalign.confidence.prompts import verbalized_user

    if options.pairs_file is not None:
        pairs = read_pairs(options.pairs_file)
        return pairs, Counter(kept=len(pairs), from_file=1)
    fmt = get_format(PAIR_FORMAT)
    prompts = {ex.id: ctx.render(Prompt(user=verbalized_user(ex, fmt))) for ex in ctx.examples}
    fields = ("example_id", "mode", "prediction", "correct", "confidence", "raw_text")
    sources = [
        PairSource(*(getattr(r, f) for f in fields), r.parse_failed, r.extra)
        for r in ctx.answers(PAIR_FORMAT, options.mode)
    ]
    return build_pairs(sources, prompts)


def describe(options: DCAOptions) -> str:
    """The card's paragraph."""
    return (
        f"Direct Confidence Alignment (preference training, loss `{options.loss}`, beta "
        f"{options.beta}, chosen-NLL weight {options.sft_weight}) teaches the model to *say* "
        "the confidence it *has*: preference pairs whose chosen response carries its verbalized "
        "`Probability: X%` replaced by round(100 * Ci)%, Ci being the model's internal "
        f"probability of the answer it gave (responses elicited in `{options.mode}` mode)."
    )


METHOD = TrainingMethod(
    name="dca",
    summary="Direct Confidence Alignment: pairs whose chosen response says the model's internal "
    "confidence, DPO/IPO + LoRA.",
    options=DCAOptions,
    record=DCAPair,
    answers=lambda o: ((PAIR_FORMAT,), (o.mode,)),
    build=build,
    layout=pair_layout,
    prepare=prepare_reference,
    records=records,
    loss=options_loss,
    describe=describe,
    evaluation="alignment",
)
