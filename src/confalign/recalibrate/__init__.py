"""Post-hoc recalibration of a stored run: fit maps on a disjoint calibration set, store the
recalibrated confidences as their own methods (``choice+platt``,
``verbalized/score_number/distribution+isotonic``), so every metric, table and figure of the
report applies to them unchanged.

    from confalign.recalibrate import RecalibrateConfig, recalibrate_run

    recalibrate_run(RecalibrateConfig(Path("runs/s0"), fit_run=Path("runs/s1")))
    recalibrate_run(RecalibrateConfig(Path("runs/other"), apply=Path("runs/s0/recalibration.json")))

``maps`` (one map's fit and JSON), ``fit`` (maps per dataset and method key, the
``recalibration.json`` file), ``apply`` (recalibrated rows), ``run`` (the command's work).
"""

from confalign.recalibrate.apply import apply_entry, apply_maps
from confalign.recalibrate.fit import (
    FILE_NAME,
    MapEntry,
    Recalibration,
    RecalibrationError,
    fit_maps,
    recalibrated_key,
)
from confalign.recalibrate.maps import MAPS
from confalign.recalibrate.run import RecalibrateConfig, RecalibrateResult, recalibrate_run
from confalign.runs import is_recalibrated

__all__ = [
    "FILE_NAME",
    "MAPS",
    "MapEntry",
    "RecalibrateConfig",
    "RecalibrateResult",
    "Recalibration",
    "RecalibrationError",
    "apply_entry",
    "apply_maps",
    "fit_maps",
    "is_recalibrated",
    "recalibrate_run",
    "recalibrated_key",
]
