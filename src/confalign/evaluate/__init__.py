"""The eval pipeline: extractors over datasets in length-sorted batches, each batch written to the
run store as it is produced; what is stored is skipped, so an interrupted run resumes.

    from confalign.evaluate import EvalConfig, run_eval

    run_dir = run_eval(EvalConfig(datasets=("mmlu",), limit=200, methods=("choice",)))
"""

from confalign.evaluate.config import ConfigError, EvalConfig
from confalign.evaluate.interrupt import EvalInterrupted
from confalign.evaluate.pipeline import ExtractorContractError, run_eval

__all__ = ["ConfigError", "EvalConfig", "EvalInterrupted", "ExtractorContractError", "run_eval"]
