"""The benchmark registry: one module per benchmark, one registration line each here."""

from __future__ import annotations

from confalign.data.benchmarks import (
    arc,
    calibrated_math,
    commonsense_qa,
    hellaswag,
    logiqa,
    medmcqa,
    mmlu,
    mmlu_offline,
    piqa,
    simpleqa,
    triviaqa,
    truthfulqa,
    world_facts,
)
from confalign.data.benchmarks.base import Benchmark, DatasetUnavailableError, subject_matches
from confalign.registry import Registry

BENCHMARKS: Registry[Benchmark] = Registry("benchmark")
BENCHMARKS.register("mmlu_offline")(mmlu_offline.SPEC)
BENCHMARKS.register("mmlu")(mmlu.SPEC)
BENCHMARKS.register("trivia_qa")(triviaqa.SPEC)
BENCHMARKS.register("arc_easy")(arc.EASY_SPEC)
BENCHMARKS.register("arc_challenge")(arc.CHALLENGE_SPEC)
BENCHMARKS.register("hellaswag")(hellaswag.SPEC)
BENCHMARKS.register("piqa")(piqa.SPEC)
BENCHMARKS.register("medmcqa")(medmcqa.SPEC)
BENCHMARKS.register("logiqa")(logiqa.SPEC)
BENCHMARKS.register("simpleqa")(simpleqa.SPEC)
BENCHMARKS.register("truthfulqa")(truthfulqa.SPEC)
BENCHMARKS.register("commonsense_qa")(commonsense_qa.SPEC)
BENCHMARKS.register("calibrated_math")(calibrated_math.SPEC)
BENCHMARKS.register("calibrated_math_mc")(calibrated_math.MC_SPEC)
BENCHMARKS.register("world_facts")(world_facts.SPEC)
BENCHMARKS.register("world_facts_mc")(world_facts.MC_SPEC)

__all__ = ["BENCHMARKS", "Benchmark", "DatasetUnavailableError", "subject_matches"]
