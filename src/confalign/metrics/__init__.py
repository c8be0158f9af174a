"""confalign.metrics: calibration, ranking, alignment and distribution metrics (NumPy only).

Definitions are docs/design.md's "Metrics" section; each module's docstring states its formulas
and tie/edge policies once. Conventions (scikit-learn style):

- data first, options keyword-only, plain ``float`` out; ``*_error``/``*_loss`` are
  lower-better, ``*_score`` higher-better; ``metric_info(f_or_key)`` gives any metric's
  direction (``higher_is_better``; None for signed metrics whose best is 0) and range.
- ``confidence`` is ``(n_samples,)`` in [0, 1], ``correct`` ``(n_samples,)`` in {0, 1}.
  Bad input raises ``ValueError`` naming the argument, the first bad index and its value;
  nothing is clipped or dropped (NLL's documented 1e-7 clip aside).
- Undefined results (AUROC/PRR with one class, Spearman with a constant side) are NaN with
  an ``UndefinedMetricWarning``. Empty bins are skipped.

What the report uses
--------------------
``calibration_summary(confidence, correct, *, n_bins=15, strategy="equal_width",
smooth=True) -> CalibrationSummary``
    n, accuracy, mean_confidence, ece, mce, nce, abs_nce, brier, nll, auroc, aurc, prr,
    smece (None with ``smooth=False``), n_bins, strategy, ``bins`` (a ``BinTable``: lo, hi, count,
    accuracy, confidence per bin); ``.scalars()`` -> ``{metric key: value}``.
``alignment_metrics(verbalized, internal, *, ddof=1) -> AlignmentMetrics``
    n, spearman, mean_gap, mean_abs_gap, gap_std (sigma_eps), gap_sem (sigma_M);
    ``.scalars()``.
``bootstrap_ci(metric, *arrays, n_resamples=1000, confidence_level=0.95, seed=0,
**options) -> BootstrapResult``
    estimate, low, high, confidence_level, n_resamples, n_undefined, resamples,
    standard_error; e.g. ``bootstrap_ci(expected_calibration_error, c, y, n_bins=10)``.
``metric_info(key_or_function) -> MetricInfo`` and ``METRICS`` (all keys).

Every metric
------------
Calibration: ``expected_calibration_error`` (``ece``), ``maximum_calibration_error``
(``mce``), ``static_calibration_error`` (``sce``, from (n, K) probabilities and labels),
``net_calibration_error`` (``nce``, signed), ``absolute_net_calibration_error``,
``brier_score_loss``, ``log_loss``, ``smooth_ece`` (``relplot.smECE``'s algorithm, by FFT),
``calibration_bins`` -> ``BinTable``, ``smooth_reliability`` -> ``SmoothReliability``.
Ranking: ``auroc_score``, ``risk_coverage_curve`` -> ``RiskCoverageCurve``, ``aurc_error``,
``prr_score``, ``selective_risk`` -> ``SelectiveRisk`` (risk, oracle and random at every
coverage), ``accuracy_at_coverage``. Alignment (Cv vs Ci): ``spearman_score``,
``mean_gap``, ``mean_absolute_gap``, ``gap_std``, ``gap_sem``. Distribution:
``jensen_shannon_divergence`` (``jsd``).
Recalibration: ``TemperatureScaling``, ``PlattScaling``, ``IsotonicCalibration``,
``HistogramBinning`` (``.fit(...)`` then ``.transform(...)``) and ``recalibrate``.
"""

from confalign.metrics._info import METRICS, MetricInfo, metric_info
from confalign.metrics._validation import ROW_SUM_ATOL, UndefinedMetricWarning
from confalign.metrics.alignment import (
    AlignmentMetrics,
    alignment_metrics,
    gap_sem,
    gap_std,
    mean_absolute_gap,
    mean_gap,
    spearman_score,
)
from confalign.metrics.binning import BinTable, calibration_bins
from confalign.metrics.bootstrap import BootstrapResult, bootstrap_ci, bootstrap_resamples
from confalign.metrics.calibration import (
    NLL_EPS,
    absolute_net_calibration_error,
    brier_score_loss,
    expected_calibration_error,
    log_loss,
    maximum_calibration_error,
    net_calibration_error,
    static_calibration_error,
)
from confalign.metrics.distribution import jensen_shannon_divergence
from confalign.metrics.ranking import (
    RiskCoverageCurve,
    SelectiveRisk,
    accuracy_at_coverage,
    aurc_error,
    auroc_score,
    prr_score,
    risk_coverage_curve,
    selective_risk,
)
from confalign.metrics.recalibration import (
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    TemperatureScaling,
    recalibrate,
)
from confalign.metrics.smooth import (
    SmoothReliability,
    relplot_available,
    smooth_ece,
    smooth_reliability,
)
from confalign.metrics.summary import CalibrationSummary, calibration_summary

# Short aliases for the acronyms docs/design.md uses (the same function objects).
ece = expected_calibration_error
mce = maximum_calibration_error
sce = static_calibration_error
nce = net_calibration_error
jsd = jensen_shannon_divergence

__all__ = [
    "METRICS",
    "NLL_EPS",
    "ROW_SUM_ATOL",
    "AlignmentMetrics",
    "BinTable",
    "BootstrapResult",
    "CalibrationSummary",
    "HistogramBinning",
    "IsotonicCalibration",
    "MetricInfo",
    "PlattScaling",
    "RiskCoverageCurve",
    "SelectiveRisk",
    "SmoothReliability",
    "TemperatureScaling",
    "UndefinedMetricWarning",
    "absolute_net_calibration_error",
    "accuracy_at_coverage",
    "alignment_metrics",
    "aurc_error",
    "auroc_score",
    "bootstrap_ci",
    "bootstrap_resamples",
    "brier_score_loss",
    "calibration_bins",
    "calibration_summary",
    "ece",
    "expected_calibration_error",
    "gap_sem",
    "gap_std",
    "jensen_shannon_divergence",
    "jsd",
    "log_loss",
    "maximum_calibration_error",
    "mce",
    "mean_absolute_gap",
    "mean_gap",
    "metric_info",
    "nce",
    "net_calibration_error",
    "prr_score",
    "recalibrate",
    "relplot_available",
    "risk_coverage_curve",
    "sce",
    "selective_risk",
    "smooth_ece",
    "smooth_reliability",
    "spearman_score",
    "static_calibration_error",
]
