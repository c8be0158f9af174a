"""The validation sweep of docs/results/advice-smollm2.md (run from the repository root, after
the main ADVICE and ConfTuner runs): each configuration reuses its main run's training data
and base validation eval (copied: they do not depend on the optimisation settings), trains
anew and evaluates on the validation split only (--validation-only: held-out stays unseen).
The held-out evaluation of the configuration validation chose is the same command without
--validation-only (docs/results/conftuner-smollm2.md)."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

MAIN = {"advice": Path("runs/advice-smollm2"), "conftuner": Path("runs/conftuner-smollm2")}
DATA = (
    "--train-limit 150 --validation-limit 60 --eval-limit 300 --ood-limit 200 "
    "--eval-formats score_letter,score_number,score_text --ood-formats score_number "
    "--batch-size 8"
)
COMMON = {"advice": f"--correct-from gold {DATA}", "conftuner": f"--format score_number {DATA}"}
CONFIGS = [("advice", "1e-3", "1"), ("advice", "2e-4", "3"), ("conftuner", "1e-3", "2")]

for method, lr, epochs in CONFIGS:
    out = Path(f"runs/sweep/{method}-lr{lr}-ep{epochs}")
    main = MAIN[method]
    if not out.exists():
        out.mkdir(parents=True)
        for name in ("answers-run", "valid-base"):
            shutil.copytree(main / name, out / name)
        for name in ("data.jsonl", "data_stats.json"):
            shutil.copy(main / name, out / name)
        identity = json.loads((main / f"{method}.json").read_text())
        identity["train"] |= {"learning_rate": float(lr), "epochs": float(epochs)}
        (out / f"{method}.json").write_text(json.dumps(identity, indent=2) + "\n")
    cmd = (
        f"{sys.executable} -m confalign.cli train {method} --output {out} {COMMON[method]} "
        f"--lr {lr} --epochs {epochs} --save-steps 5 --logging-steps 1 --threads 1 "
        "--validation-only --no-progress"
    )
    start = time.time()
    done = subprocess.run(cmd.split(), capture_output=True, text=True)
    print(method, lr, epochs, "rc", done.returncode, f"{time.time() - start:.0f} s", flush=True)
    if done.returncode:
        print(done.stderr[-2000:], flush=True)
