"""The validation table of docs/results/dca-smollm2.md's sweep: for each DCA run folder given
(``--validation-only`` runs, or epoch checkpoints evaluated in folders of their own), the
validation split's rho(Cv, Ci) and |eps| in both modes, choice accuracy and parse rate, beside
the base model's. The selection rule: among the runs whose |eps| is no worse than the base
model's in either mode, the highest mean rho(Cv, Ci) over the two modes. (The rule fixed
before any result was the mean rho alone; the first candidate showed it incomplete: with
--sft-weight 1 rho rose while |eps| tripled, because the NLL term also trains the answer
letter and Ci rose to 0.81. The amendment was made on validation results only.)

    python scripts/dca_sweep_table.py runs/sweep/*/
"""

import sys
from pathlib import Path

from confalign.report.before_after import alignment_rows, markdown_table

COLUMNS = [
    ("rho_prefill", "ρ prefill"),
    ("rho_distribution", "ρ distribution"),
    ("abs_prefill", "|ε| prefill"),
    ("abs_distribution", "|ε| distribution"),
    ("choice", "acc (choice)"),
    ("parsed", "parsed (prefill)"),
    ("cv_q", "Cv q10/q50/q90 (prefill)"),
]


def summary(run: Path) -> dict:
    rows = {r["mode"]: r for r in alignment_rows(run) if r["dataset"] == "mmlu_offline"}
    p, d = rows["prefill"], rows["distribution"]
    return {
        "rho_prefill": p["spearman"],
        "rho_distribution": d["spearman"],
        "abs_prefill": p["mean_abs_gap"],
        "abs_distribution": d["mean_abs_gap"],
        "choice": p["choice_accuracy"],
        "parsed": p["parse_rate"],
        "cv_q": p["cv_quantiles"],
    }


folders = [Path(a) for a in sys.argv[1:]]
table = []
base = next(f / "valid-base" for f in folders if (f / "valid-base" / "manifest.json").exists())
table.append({"run": "base", **summary(base)})
for f in folders:
    if (f / "valid-dca" / "manifest.json").exists():
        table.append({"run": f.name, **summary(f / "valid-dca")})
print(markdown_table(table, ("run",), COLUMNS))
tuned = [
    r
    for r in table[1:]
    if r["abs_prefill"] <= table[0]["abs_prefill"]
    and r["abs_distribution"] <= table[0]["abs_distribution"]
]
if tuned:
    best = max(tuned, key=lambda r: (r["rho_prefill"] + r["rho_distribution"]) / 2)
    print(f"chosen: {best['run']}")
