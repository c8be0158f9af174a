"""The alignment study (2409.00352): does tuning break a model's internal confidence?

``StudyConfig`` names (base, tuned) pairs, tasks, methods and metrics; ``run_study`` runs or
reuses one eval per model x task and computes, per pair x task x method x metric, base, tuned
and the paired-bootstrap difference, the ranking of pairs per task with Kendall's tau between
tasks, and the verdict table; ``write_study`` writes study.json, study.md and study.html.
"""

from confalign.analysis.study.compute import MethodData, compute_study, paired_difference
from confalign.analysis.study.config import (
    DEFAULT_TASKS,
    METHODS,
    METRICS,
    OFFLINE_TASKS,
    ModelSpec,
    Pair,
    StudyConfig,
    StudyError,
    load_study_file,
    parse_pair,
)
from confalign.analysis.study.render import write_study
from confalign.analysis.study.run import StudyResult, run_study

__all__ = [
    "DEFAULT_TASKS",
    "METHODS",
    "METRICS",
    "OFFLINE_TASKS",
    "MethodData",
    "ModelSpec",
    "Pair",
    "StudyConfig",
    "StudyError",
    "StudyResult",
    "compute_study",
    "load_study_file",
    "paired_difference",
    "parse_pair",
    "run_study",
    "write_study",
]
