"""The eval pipeline: extractors over datasets in length-sorted batches, each batch written to the
run store as it is produced; what is stored is skipped, so an interrupted run resumes.

    from confalign.evaluate import EvalConfig, run_eval

    run_dir = run_eval(EvalConfig(datasets=("mmlu",), limit=200, methods=("choice",)))
    regrade_run(run_dir, GradingConfig(grader="exact"))  # the stored answers graded again
"""

from confalign.evaluate.config import ConfigError, EvalConfig, GradingConfig
from confalign.evaluate.interrupt import EvalInterrupted
from confalign.evaluate.pipeline import ExtractorContractError, run_eval
from confalign.evaluate.regrade import RegradeResult, regrade_run

__all__ = [
    "ConfigError",
    "EvalConfig",
    "EvalInterrupted",
    "ExtractorContractError",
    "GradingConfig",
    "RegradeResult",
    "regrade_run",
    "run_eval",
]
