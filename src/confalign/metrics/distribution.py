"""Distances between discrete distributions: Jensen-Shannon divergence.

``JSD(p, q) = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``, natural log, so
``0 <= JSD <= ln 2``; ``0 ln 0 = 0``. ADVICE's answer-independence statistic is, per
question, the JSD between the confidence-level distributions given the correct and given a
wrong answer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import rel_entr

from confalign.metrics._info import register_metric
from confalign.metrics._validation import FloatArray, check_distributions


@register_metric(
    "jsd",
    label="JSD",
    higher_is_better=None,
    high=float(np.log(2.0)),
    description="Jensen-Shannon divergence (natural log) between two distributions",
)
def jensen_shannon_divergence(p: ArrayLike, q: ArrayLike) -> float | FloatArray:
    """Jensen-Shannon divergence in nats, in [0, ln 2], row by row.

    ``scipy.spatial.distance.jensenshannon(p, q) ** 2`` is the same quantity. Rounding noise
    below 0 (of order 1e-17) is floored at 0. ``higher_is_better`` is None: whether a large
    divergence is wanted depends on the study (ADVICE wants it large).

    Parameters
    ----------
    p, q : array-like of shape (n_classes,) or (n_rows, n_classes); each row sums to 1
        (within ``ROW_SUM_ATOL``); both the same shape.

    Returns
    -------
    float for 1-D inputs, else an array of shape (n_rows,)
    """
    a = check_distributions("p", p)
    b = check_distributions("q", q)
    if a.shape != b.shape:
        raise ValueError(f"p has shape {a.shape} but q has shape {b.shape}; they must match")
    m = (a + b) / 2.0
    jsd = np.maximum((rel_entr(a, m).sum(axis=-1) + rel_entr(b, m).sum(axis=-1)) / 2.0, 0.0)
    return float(jsd) if jsd.ndim == 0 else jsd
