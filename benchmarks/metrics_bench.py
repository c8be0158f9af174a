"""Speed of confalign.metrics against torchmetrics, netcal and scikit-learn.

Tasks, on N = 10^5 and 10^6 random examples (confidence ~ U(0, 1), correct ~ Bernoulli(c^1.2)):
ECE (15 equal-width bins), AUROC, Brier score, and a 1,000-resample percentile bootstrap of
ECE. Each tool gets its input in its own preferred form, prepared before timing (NumPy
float64 for confalign, netcal and scikit-learn; torch float32 / int64 for torchmetrics).

- confalign validates its input on every call; torchmetrics runs with ``validate_args=False``
  (its fastest setting; its default, True, is slower).
- Every tool runs on one thread: NumPy is single-threaded, and torch is set to one intra-op
  thread, its fastest setting on the shared 2-core machine this was written on (its default
  of 2 threads measured 3-50x slower there under load from other processes).
- Single metrics: best of ``REPEATS`` calls. Bootstrap: one run.
- A peer bootstrap is a loop of resample + metric (torchmetrics' ``BootStrapper`` keeps 1,000
  metric copies each holding all N predictions: 8 GB at N = 10^6). A loop that would take
  longer than ``PEER_BUDGET_S`` is stopped there and its time extrapolated linearly to
  1,000 resamples; the table marks such cells with ``*`` and the resamples actually timed.
- "speedup" is the fastest peer's time divided by confalign's.

Run: ``python benchmarks/metrics_bench.py`` (needs the ``bench`` extra: torchmetrics, netcal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from netcal.metrics import ECE as NetcalECE
from rich.console import Console
from rich.table import Table
from sklearn.metrics import brier_score_loss as sklearn_brier
from sklearn.metrics import roc_auc_score as sklearn_auroc
from torchmetrics.functional.classification import binary_auroc, binary_calibration_error

from confalign.metrics import (
    auroc_score,
    bootstrap_ci,
    brier_score_loss,
    expected_calibration_error,
)

SIZES = (10**5, 10**6)
N_BINS = 15
N_RESAMPLES = 1000
REPEATS = 7
PEER_BUDGET_S = 20.0
TOOLS = ("confalign", "torchmetrics", "netcal", "scikit-learn")


@dataclass(frozen=True)
class Timing:
    seconds: float
    timed_resamples: int | None = None  # set when extrapolated from fewer resamples

    def cell(self) -> str:
        text = f"{self.seconds * 1e3:,.1f} ms" if self.seconds < 1 else f"{self.seconds:,.2f} s"
        return f"{text} *({self.timed_resamples})" if self.timed_resamples else text


def best_of(function: Callable[[], object], repeats: int = REPEATS) -> Timing:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return Timing(min(times))


def peer_bootstrap(one_resample: Callable[[], object]) -> Timing:
    """Run resamples until N_RESAMPLES or PEER_BUDGET_S; extrapolate linearly if stopped."""
    start = time.perf_counter()
    done = 0
    while done < N_RESAMPLES:
        one_resample()
        done += 1
        if done >= 3 and time.perf_counter() - start > PEER_BUDGET_S:
            break
    elapsed = time.perf_counter() - start
    if done == N_RESAMPLES:
        return Timing(elapsed)
    return Timing(elapsed / done * N_RESAMPLES, timed_resamples=done)


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    confidence = rng.random(n)
    return confidence, (rng.random(n) < confidence**1.2).astype(np.float64)


def time_size(n: int) -> dict[str, dict[str, Timing]]:
    """{task: {tool: timing}} for one N."""
    c, y = make_data(n)
    preds, target = torch.from_numpy(c).float(), torch.from_numpy(y).long()
    netcal = NetcalECE(bins=N_BINS)
    generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)

    def torch_resample() -> None:
        index = torch.randint(n, (n,), generator=generator)
        binary_calibration_error(preds[index], target[index], n_bins=N_BINS, validate_args=False)

    def netcal_resample() -> None:
        index = rng.integers(0, n, n)
        netcal.measure(c[index], y[index])

    ece_ours = best_of(lambda: expected_calibration_error(c, y, n_bins=N_BINS))
    boot_start = time.perf_counter()
    bootstrap_ci(expected_calibration_error, c, y, n_bins=N_BINS, n_resamples=N_RESAMPLES)
    boot_ours = Timing(time.perf_counter() - boot_start)
    return {
        "ECE": {
            "confalign": ece_ours,
            "torchmetrics": best_of(
                lambda: binary_calibration_error(preds, target, n_bins=N_BINS, validate_args=False)
            ),
            "netcal": best_of(lambda: netcal.measure(c, y)),
        },
        "AUROC": {
            "confalign": best_of(lambda: auroc_score(c, y)),
            "torchmetrics": best_of(lambda: binary_auroc(preds, target, validate_args=False)),
            "scikit-learn": best_of(lambda: sklearn_auroc(y, c)),
        },
        "Brier": {
            "confalign": best_of(lambda: brier_score_loss(c, y)),
            "scikit-learn": best_of(lambda: sklearn_brier(y, c)),
        },
        f"ECE bootstrap x{N_RESAMPLES}": {
            "confalign": boot_ours,
            "torchmetrics": peer_bootstrap(torch_resample),
            "netcal": peer_bootstrap(netcal_resample),
        },
    }


def agreement(n: int) -> str:
    """The tools compute the same ECE (no confidence lies on a bin edge in this data)."""
    c, y = make_data(n)
    ours = expected_calibration_error(c, y, n_bins=N_BINS)
    torch_ece = binary_calibration_error(
        torch.from_numpy(c), torch.from_numpy(y).long(), n_bins=N_BINS
    ).item()
    netcal_ece = NetcalECE(bins=N_BINS).measure(c, y)
    return (
        f"N={n:,}: ECE confalign {ours:.10f}, torchmetrics (float64) {torch_ece:.10f}, "
        f"netcal {netcal_ece:.10f}"
    )


def render(results: dict[int, dict[str, dict[str, Timing]]]) -> Table:
    table = Table(title="confalign.metrics vs peers (lower time is better)")
    for column in ("task", "N", *TOOLS, "speedup vs fastest peer"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for n, tasks in results.items():
        for task, timings in tasks.items():
            peers = [t.seconds for tool, t in timings.items() if tool != "confalign"]
            speedup = min(peers) / timings["confalign"].seconds
            cells = [timings[tool].cell() if tool in timings else "—" for tool in TOOLS]
            table.add_row(task, f"{n:,}", *cells, f"{speedup:,.1f}x")
    return table


def main() -> None:
    torch.set_num_threads(1)
    console = Console(width=150)
    console.print(
        f"torch {torch.__version__} with {torch.get_num_threads()} intra-op thread; "
        f"NumPy {np.__version__} (single thread); bootstrap budget per peer {PEER_BUDGET_S:.0f} s"
    )
    for n in SIZES:
        console.print(agreement(n))
    results = {n: time_size(n) for n in SIZES}
    console.print(render(results))
    console.print(
        "* extrapolated linearly to 1,000 resamples from the number timed, in parentheses. "
        "torchmetrics: validate_args=False; confalign validates every call."
    )


if __name__ == "__main__":
    main()
