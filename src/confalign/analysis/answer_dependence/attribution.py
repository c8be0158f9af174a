"""Integrated gradients of the expected confidence with respect to the input embeddings.

captum's ``LayerIntegratedGradients`` on the embedding layer (Sundararajan et al. 2017): the
path runs from a baseline, the same prompt with every content-segment token (instruction,
question, options, answer) replaced by the pad token, to the real prompt. Template tokens equal
their baseline, so their attribution is exactly 0 and the whole output difference is shared
among the content segments. Per token the attribution is summed over the embedding dimension.
Completeness: the attributions should sum to ``F(x) - F(baseline)``; ``delta`` is captum's
convergence delta (sum minus that difference), reported per question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from confalign.analysis.answer_dependence.segments import OTHER
from confalign.analysis.answer_dependence.target import LevelTarget, expected_confidence


@dataclass(frozen=True)
class Attribution:
    """``per_token``: attribution of each token (seq,); ``output``/``baseline_output``: the
    expected confidence of the prompt and of the baseline; ``delta``: completeness gap."""

    per_token: np.ndarray
    output: float
    baseline_output: float
    delta: float

    @property
    def relative_gap(self) -> float:
        """|delta| / |F(x) - F(baseline)| (NaN when the difference is 0)."""
        diff = abs(self.output - self.baseline_output)
        return abs(self.delta) / diff if diff > 0 else float("nan")


def integrated_gradients(
    model: Any,
    ids: Sequence[int],
    labels: Sequence[str],
    target: LevelTarget,
    pad_id: int,
    *,
    n_steps: int = 64,
    internal_batch_size: int = 8,
) -> Attribution:
    """IG of the expected confidence at the last position of ``ids`` (module doc); ``labels``
    gives each token's segment, and tokens labelled ``other`` keep their id in the baseline."""
    from captum.attr import LayerIntegratedGradients

    device = next(model.parameters()).device
    x = torch.as_tensor([list(ids)], device=device)
    baseline = torch.tensor(
        [[t if lab == OTHER else pad_id for t, lab in zip(ids, labels, strict=True)]],
        device=device,
    )

    def forward(batch: torch.Tensor) -> torch.Tensor:
        return expected_confidence(model, batch, target)

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attr, delta = lig.attribute(
        x,
        baselines=baseline,
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    with torch.no_grad():
        out = forward(torch.cat([x, baseline]))
    return Attribution(
        per_token=attr[0].sum(dim=-1).double().detach().cpu().numpy(),
        output=float(out[0]),
        baseline_output=float(out[1]),
        delta=float(delta[0]),
    )
