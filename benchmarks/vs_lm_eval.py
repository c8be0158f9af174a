"""confalign's ``hf`` backend against lm-eval's ``hf`` model: same model, same strings, same data.

What is compared. The embedded SmolLM2-135M-Instruct (its converted safetensors folder, fp32,
CPU, ``--threads`` torch threads) scores a seeded sample of the offline MMLU in two formats,
both lm-eval's own templates (``benchmarks/lm_eval_tasks``):

- ``letter``: ``"<question>\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer:"``, options ``" A"``..``" D"``
  (single tokens: lm-eval shares one forward pass across them, its logits cache);
- ``continuation``: ``"Question: <question>\\nAnswer:"``, options ``" <option text>"`` (multi-token:
  lm-eval recomputes the context for each option; confalign shares it).

No chat template on either side (``BackendConfig(chat=False)``). lm-eval tokenises context +
continuation together and splits; confalign encodes the continuation apart. The parent checks
that both scored the same strings AND the same token ids, and reports any difference.

How. Each tool runs in its own child process, twice: a tuning run (a sweep of lm-eval's
``batch_size`` / confalign's ``batch_tokens`` on ``--tune-questions`` questions disjoint from the
timed ones; skipped when the value is given) and the timed run (load, untimed warm-up on the
tuning questions, then the timed pass). Only scoring is timed: lm-eval's ``loglikelihood`` call,
confalign's ``ChoiceExtractor.extract`` (which yields choice, continuation_sum and
continuation_min from one pass; ``choice`` on the letter task only, the continuation prompt has
no lettered options). Model load is timed apart. Peak RSS is the kernel's ``ru_maxrss`` of the
timed child (``os.wait4``). Each child writes its log-likelihoods to a JSON file; the parent
compares them.

Tokens. ``computed``: input tokens each tool actually runs through the model, padding excluded
(lm-eval: one row ``context + continuation[:-1]`` per distinct such sequence; confalign: the
prompt once plus every continuation token but the last, per question). ``unique``:
tool-independent, per question the prompt tokens plus every option's tokens, counted once.
``padded``: tokens in the padded batches each tool fed the decoder (from a forward hook).
Questions/s and unique tokens/s give the same ratio; computed tokens/s says how fast each tool
runs its own work.

Roofline: see ``_roofline.py``; measured in the parent before the children run.
``--profile`` adds an untimed torch.profiler pass per tool and prints where the time goes.

Usage: ``python benchmarks/vs_lm_eval.py --questions 200 --seed 0 --threads 2``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _roofline as rl

TASKS_DIR = Path(__file__).resolve().parent / "lm_eval_tasks"
TASK_FILES = {"letter": "mmlu_letter.yaml", "continuation": "mmlu_continuation.yaml"}
LETTERS = "ABCD"


# -- the two prompt formats, as confalign renders them (must equal the YAML templates) ------


def letter_context(question: str, choices: Sequence[str]) -> str:
    options = "".join(f"\n{letter}. {c}" for letter, c in zip(LETTERS, choices, strict=True))
    return f"{question.strip()}{options}\nAnswer:"


def continuation_context(question: str, choices: Sequence[str]) -> str:
    return f"Question: {question.strip()}\nAnswer:"


CONTEXTS: dict[str, Callable[[str, Sequence[str]], str]] = {
    "letter": letter_context,
    "continuation": continuation_context,
}


def continuations(task: str, choices: Sequence[str]) -> tuple[str, ...]:
    """The scored strings; lm-eval's ``target_delimiter`` is the leading space."""
    texts = LETTERS[: len(choices)] if task == "letter" else choices
    return tuple(" " + t for t in texts)


def task_name(task: str, tune: bool = False) -> str:
    return f"confalign_mmlu_{task}" + ("_tune" if tune else "")


def write_task_yamls(
    tasks_dir: Path, data: Path, tune_data: Path, cache_dir: Path | None = None
) -> Path:
    """Copies of the repository's task YAMLs reading ``data`` (and ``*_tune`` variants reading
    ``tune_data``), for ``TaskManager(include_path=tasks_dir)`` or ``lm_eval --include_path``.
    ``cache_dir``: where ``datasets`` caches the parsed JSON (default: its own cache)."""
    import yaml

    tasks_dir.mkdir(parents=True, exist_ok=True)
    for task, file in TASK_FILES.items():
        config = yaml.safe_load((TASKS_DIR / file).read_text())
        for tune, path in ((False, data), (True, tune_data)):
            config = {**config, "task": task_name(task, tune)}
            config["dataset_kwargs"] = {"data_files": {"test": str(path.resolve())}}
            if cache_dir is not None:
                config["dataset_kwargs"]["cache_dir"] = str(cache_dir)
            out = tasks_dir / f"{task_name(task, tune)}.yaml"
            out.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return tasks_dir


# -- workers (child processes) --------------------------------------------------------------


class LmEvalSpy:
    """Wraps an ``HFLM``: times ``loglikelihood`` (the scoring, tokenisation included) and
    records each request's strings, log-likelihood and the token ids lm-eval scored."""

    def __init__(self, lm: Any) -> None:
        self.seconds, self.requests, self.tokens = 0.0, [], []
        self.profile: dict[str, float] | None = None  # set to {} to profile the next call
        self._loglikelihood, self._tokens = lm.loglikelihood, lm._loglikelihood_tokens
        lm.loglikelihood, lm._loglikelihood_tokens = self.loglikelihood, self.loglikelihood_tokens

    def reset(self) -> None:
        self.seconds, self.requests, self.tokens = 0.0, [], []

    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list:
        start = time.perf_counter()
        if self.profile is None:
            out = self._loglikelihood(requests, disable_tqdm=True)
        else:
            out, self.profile, _ = rl.profile_call(lambda: self._loglikelihood(requests, True))
        self.seconds += time.perf_counter() - start
        pairs = zip(requests, out, strict=True)
        self.requests += [(r.doc_id, r.idx, *r.args, lp) for r, (lp, _) in pairs]
        return out

    def loglikelihood_tokens(self, requests: list, *args: Any, **kwargs: Any) -> list:
        self.tokens += [(list(ctx), list(cont)) for _, ctx, cont in requests]
        return self._tokens(requests, *args, **kwargs)

    def questions(self) -> list[dict[str, Any]]:
        """Per document, in order: strings, token ids and log-likelihood of every option."""
        docs: dict[int, dict[int, tuple]] = {}
        for (doc_id, idx, ctx, cont, lp), ids in zip(self.requests, self.tokens, strict=True):
            docs.setdefault(doc_id, {})[idx] = (ctx, cont, lp, *ids)
        out = []
        for doc_id in sorted(docs):
            options = [docs[doc_id][i] for i in sorted(docs[doc_id])]
            out.append(
                {
                    "context": options[0][0],
                    "continuations": [o[1] for o in options],
                    "loglik": [o[2] for o in options],
                    "ctx_ids": options[0][3],
                    "cont_ids": [o[4] for o in options],
                }
            )
        return out

    def computed_tokens(self) -> int:
        """lm-eval runs one row ``context + continuation[:-1]`` per distinct such sequence
        (its logits cache shares it between single-token continuations)."""
        return sum(len(r) for r in {tuple(c + o[:-1]) for c, o in self.tokens})


def lm_eval_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Tune (sweep ``batch_size``) or time lm-eval's ``hf`` model on one task."""
    import torch

    torch.set_num_threads(args.threads)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    values = args.sweep if args.tune else [args.batch]
    start = time.perf_counter()
    lm = HFLM(pretrained=args.model, dtype="float32", device="cpu", batch_size=values[0])
    load_s = time.perf_counter() - start
    probe, spy = rl.ForwardProbe(lm.model), LmEvalSpy(lm)
    manager = TaskManager(include_path=str(args.workdir / "tasks"), include_defaults=False)

    def run(name: str, batch: int) -> dict[str, Any]:
        lm.batch_size_per_gpu = batch
        spy.reset()
        probe.reset()
        out = simple_evaluate(
            model=lm, tasks=[name], task_manager=manager, bootstrap_iters=0, log_samples=False
        )
        return out["results"][name]

    tune_name = task_name(args.task, tune=True)
    run(tune_name, values[0])  # warm-up: allocator, kernels, dataset cache
    if args.tune:
        n_tune = len(rl.read_jsonl(args.workdir / "tune.jsonl"))
        sweep = []
        for batch in values:
            run(tune_name, batch)
            sweep.append((batch, n_tune / spy.seconds))
        return {"load_s": load_s, "sweep": sweep}
    metrics = run(task_name(args.task), args.batch)
    result = {
        "load_s": load_s,
        "score_s": spy.seconds,
        "batch": args.batch,
        "questions": spy.questions(),
        "computed_tokens": spy.computed_tokens(),
        "head_reads": spy.computed_tokens(),  # logits (and log_softmax) at every position
        "padded_tokens": probe.tokens,
        "forward_calls": probe.calls,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, float)},
    }
    if args.profile:  # an extra pass: the profiler's overhead stays out of the timing
        spy.profile = {}
        run(task_name(args.task), args.batch)
        result["profile"] = spy.profile
    return result


def same_strings_extractor(task: str, methods: tuple[str, ...]) -> Any:
    """confalign's multiple-choice extractor, sending lm-eval's strings for ``task``."""
    from confalign.backends import Prompt, ScoreRequest
    from confalign.confidence.internal import ChoiceConfig, ChoiceExtractor

    class SameStrings(ChoiceExtractor):
        def requests(self, examples: Sequence[Any]) -> list[ScoreRequest]:
            letters = "choice" in self.config.methods
            return [
                ScoreRequest(
                    Prompt(CONTEXTS[task](ex.question, ex.choices)),
                    continuations=continuations(task, ex.choices),
                    candidates=tuple(LETTERS[: len(ex.choices)]) if letters else (),
                )
                for ex in examples
            ]

    return SameStrings(ChoiceConfig(methods))


def load_examples(path: Path) -> list[Any]:
    from confalign.data.example import QAExample

    return [
        QAExample(d["id"], d["question"], tuple(d["choices"]), d["answer"], d["subject"])
        for d in rl.read_jsonl(path)
    ]


def confalign_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Tune (sweep ``batch_tokens``) or time confalign's ``hf`` backend on one task."""
    import confalign.backends.hf  # noqa: F401 - imports stay out of the load time, as for lm-eval
    from confalign.backends import BackendConfig, load_backend

    config = BackendConfig(model=args.model, chat=False, dtype="float32", threads=args.threads)
    methods = ("continuation_sum", "continuation_min")
    methods = ("choice", *methods) if args.task == "letter" else methods
    extractor = same_strings_extractor(args.task, methods)

    def load(batch_tokens: int) -> tuple[Any, float]:
        start = time.perf_counter()
        backend = load_backend("hf", dataclasses.replace(config, batch_tokens=batch_tokens))
        return backend, time.perf_counter() - start

    def run(backend: Any, examples: list[Any]) -> tuple[float, list]:
        start = time.perf_counter()
        records = extractor.extract(backend, examples)
        return time.perf_counter() - start, records

    tune = load_examples(args.workdir / "tune.jsonl")
    if args.tune:  # a backend per value: batch_tokens is part of its frozen config
        sweep = []
        for batch_tokens in args.sweep:
            backend, _ = load(batch_tokens)
            run(backend, tune)  # warm-up
            sweep.append((batch_tokens, len(tune) / run(backend, tune)[0]))
            backend.close()
        return {"sweep": sweep}
    backend, load_s = load(args.batch)
    probe = rl.ForwardProbe(backend.model)
    run(backend, tune)  # warm-up
    probe.reset()
    examples = load_examples(args.workdir / "data.jsonl")
    seconds, records = run(backend, examples)
    questions = _confalign_questions(backend, extractor, examples, records)
    reads = sum(len(c) for q in questions for c in q["cont_ids"])
    result = {
        "load_s": load_s,
        "score_s": seconds,
        "batch": args.batch,
        "questions": questions,
        # the prompt once, then every option token but its last (read, never fed)
        "computed_tokens": sum(len(q["ctx_ids"]) for q in questions)
        + sum(len(c) - 1 for q in questions for c in q["cont_ids"]),
        # lm_head rows: one per option token, plus the candidates' position
        "head_reads": reads + (len(questions) if "choice" in methods else 0),
        "padded_tokens": probe.tokens,
        "forward_calls": probe.calls,
        "metrics": {m: _accuracy(records, m) for m in methods},
    }
    if args.profile:  # an extra pass: the profiler's overhead stays out of the timing
        result["profile"] = rl.profile_call(lambda: run(backend, examples))[1]
    return result


def _confalign_questions(
    backend: Any, extractor: Any, examples: Sequence[Any], records: Sequence[Any]
) -> list[dict[str, Any]]:
    """Per question: the exact strings and token ids the backend scored, each method's scores
    (``loglik``: continuation_sum, the quantity lm-eval reports)."""
    by_key = {(r.example_id, r.method): r for r in records}
    questions = []
    # the continuation requests (the second of each question's two): the options' prompt
    option_requests = [r for r in extractor.requests(examples) if r.continuations]
    for request, ex in zip(option_requests, examples, strict=True):
        ctx_ids, _ = backend.encode_prompt(request.prompt)
        q = {
            "context": backend.render(request.prompt),
            "continuations": list(request.continuations),
            "ctx_ids": ctx_ids,
            "cont_ids": backend.encode(list(request.continuations)),
        }
        for method in extractor.config.methods:
            record = by_key[(ex.id, method)]
            q[method] = {"scores": record.extra["scores"], "probs": record.probs}
        q["loglik"] = q["continuation_sum"]["scores"]
        questions.append(q)
    return questions


def _accuracy(records: Sequence[Any], method: str) -> float:
    hits = [bool(r.correct) for r in records if r.method == method]
    return sum(hits) / len(hits)


WORKERS = {"lm_eval": lm_eval_worker, "confalign": confalign_worker}


# -- the parent: run, compare, print ----------------------------------------------------------


def run_tool(
    args: argparse.Namespace, tool: str, task: str, *, batch: int = 0, sweep: Sequence[int] = ()
) -> tuple[dict, int]:
    """Run one worker child (timed with ``batch``, or tuning over ``sweep``); return its JSON
    output and its peak RSS in bytes."""
    out = args.workdir / f"{tool}_{task}{'_tune' if sweep else ''}.json"
    cmd = [sys.executable, __file__, "--worker", tool, "--task", task, "--out", str(out)]
    cmd += ["--workdir", str(args.workdir), "--model", args.model, "--threads", str(args.threads)]
    cmd += ["--tune", "--sweep", ",".join(map(str, sweep))] if sweep else ["--batch", str(batch)]
    cmd += ["--profile"] if args.profile and not sweep else []
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env |= {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    child = rl.run_child(cmd, env=env | {"TQDM_DISABLE": "1"})
    if child.returncode != 0:
        raise SystemExit(f"{tool} worker on {task} failed (exit {child.returncode}): {cmd}")
    return json.loads(out.read_text()), child.peak_rss_bytes


def tune_value(args: argparse.Namespace, tool: str, task: str) -> tuple[int, list]:
    """The given batch setting, or the fastest of the sweep (questions/s on the tuning
    questions); and the sweep."""
    given = args.batch_size if tool == "lm_eval" else args.batch_tokens
    if given is not None:
        return given, []
    values = args.batch_size_sweep if tool == "lm_eval" else args.batch_tokens_sweep
    sweep = run_tool(args, tool, task, sweep=values)[0]["sweep"]
    print(f"  {tool} sweep on {task}: " + ", ".join(f"{b}: {qps:.2f} q/s" for b, qps in sweep))
    return max(sweep, key=lambda s: s[1])[0], sweep


def unique_counts(questions: Sequence[dict]) -> tuple[int, int]:
    """(unique tokens, distinct read positions): the prompt once plus every option token;
    every option's first token is read at the same position (the prompt's last)."""
    tokens = sum(len(q["ctx_ids"]) + sum(len(c) for c in q["cont_ids"]) for q in questions)
    reads = sum(1 + sum(len(c) - 1 for c in q["cont_ids"]) for q in questions)
    return tokens, reads


def agreement(a: Sequence[dict], b: Sequence[dict]) -> dict[str, Any]:
    """Strings, token ids, log-likelihoods and predictions of two tools, question by question."""
    same_text = sum(
        x["context"] == y["context"] and x["continuations"] == y["continuations"]
        for x, y in zip(a, b, strict=True)
    )
    same_ids = sum(
        x["ctx_ids"] == y["ctx_ids"] and x["cont_ids"] == y["cont_ids"]
        for x, y in zip(a, b, strict=True)
    )
    diffs = [
        abs(u - v)
        for x, y in zip(a, b, strict=True)
        for u, v in zip(x["loglik"], y["loglik"], strict=True)
    ]
    same_pred = sum(_argmax(x["loglik"]) == _argmax(y["loglik"]) for x, y in zip(a, b, strict=True))
    return {
        "same_text": same_text,
        "same_ids": same_ids,
        "max_abs_diff": max(diffs),
        "same_pred": same_pred,
    }


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def task_rows(
    task: str, results: dict[str, dict], roof: rl.Roofline, n: int, gold: Sequence[int]
) -> list[list[str]]:
    """The table rows of one task: one measure a row, lm-eval | confalign | ratio."""
    le, ca = results["lm_eval"], results["confalign"]
    unique, unique_reads = unique_counts(le["questions"])
    useful_bound = roof.needed_bound(unique, unique_reads)
    agree = agreement(le["questions"], ca["questions"])

    def acc(r: dict) -> float:
        return sum(_argmax(q["loglik"]) == g for q, g in zip(r["questions"], gold, strict=True)) / n

    def row(name: str, f: Callable[[dict], float], fmt: str, ratio: bool = True) -> list[str]:
        x, y = f(le), f(ca)
        return [task, name, format(x, fmt), format(y, fmt), f"{y / x:.2f}x" if ratio else ""]

    batch_name = "batch (lm-eval: batch_size; confalign: batch_tokens)"

    def own_bound(r: dict) -> float:
        return roof.needed_bound(r["computed_tokens"], r["head_reads"])

    reported = [_fmt_metrics(le["metrics"]), _fmt_metrics(ca["metrics"])]

    return [
        row(batch_name, lambda r: r["batch"], "d", False),
        row("model load s", lambda r: r["load_s"], ".1f", False),
        row("scoring s", lambda r: r["score_s"], ".1f", False),
        row("questions/s", lambda r: n / r["score_s"], ".2f"),
        row("computed tokens (own work, no padding)", lambda r: r["computed_tokens"], "d"),
        row("padded tokens fed to the decoder", lambda r: r["padded_tokens"], "d"),
        row("computed tokens/s", lambda r: r["computed_tokens"] / r["score_s"], ".0f"),
        row(f"unique tokens/s ({unique} unique tokens)", lambda r: unique / r["score_s"], ".0f"),
        row(
            "% GEMM bound, own work (computed tok/s, head rows as run)",
            lambda r: 100 * r["computed_tokens"] / r["score_s"] / own_bound(r),
            ".0f",
            False,
        ),
        row(
            f"% GEMM bound, unique tok/s vs head-where-needed bound {useful_bound:.0f}",
            lambda r: 100 * unique / r["score_s"] / useful_bound,
            ".0f",
            False,
        ),
        row("peak RSS GiB", lambda r: r["peak_rss"] / 2**30, ".2f"),
        row("accuracy (argmax log-likelihood)", acc, ".3f", False),
        [task, "accuracy reported by the tool", *reported, ""],
        [task, "same prompt + option strings", "", "", f"{agree['same_text']}/{n}"],
        [task, "same token ids", "", "", f"{agree['same_ids']}/{n}"],
        [task, "per-option log-likelihood max abs diff", "", "", f"{agree['max_abs_diff']:.1e}"],
        [task, "same prediction", "", "", f"{agree['same_pred']}/{n}"],
    ]  # fmt: skip


def _fmt_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k.removesuffix(',none')} {v:.3f}" for k, v in sorted(metrics.items()))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=200, help="timed questions (default 200)")
    p.add_argument("--tune-questions", type=int, default=24, help="disjoint warm-up/tuning set")
    p.add_argument("--seed", type=int, default=0, help="seed of the question sample")
    p.add_argument("--threads", type=int, default=2, help="torch threads in every process")
    p.add_argument("--tasks", default="letter,continuation", help="letter and/or continuation")
    p.add_argument("--batch-size", type=int, help="lm-eval batch_size (default: swept)")
    p.add_argument("--batch-size-sweep", default="1,2,4,8,16", help="lm-eval values to sweep")
    p.add_argument("--batch-tokens", type=int, help="confalign batch_tokens (default: swept)")
    p.add_argument("--batch-tokens-sweep", default="1024,2048,4096,8192")
    p.add_argument("--gemm-tokens", type=int, default=2048, help="rows of the timed GEMMs")
    p.add_argument("--model", help="model folder (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--workdir", type=Path, help="where data, task YAMLs and outputs go")
    p.add_argument("--profile", action="store_true", help="add a torch.profiler pass per tool")
    # worker mode (internal: the parent starts these)
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--task", choices=sorted(TASK_FILES), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--tune", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sweep", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    for name in ("batch_size_sweep", "batch_tokens_sweep", "sweep"):
        value = getattr(args, name)
        setattr(args, name, [int(v) for v in value.split(",")] if value else None)
    unknown = set(args.tasks) - set(TASK_FILES)
    if unknown:
        p.error(f"unknown tasks {sorted(unknown)}; known: {sorted(TASK_FILES)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        args.out.write_text(json.dumps(WORKERS[args.worker](args)))
        return

    # 1. Data: one seeded sample, split into the timed questions and a disjoint tuning set.
    if args.model is None:
        from confalign.backends.default_model import ensure_default_model

        args.model = str(ensure_default_model())
    args.workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="vs_lm_eval-"))).resolve()
    sample = rl.sample_mmlu(args.questions + args.tune_questions, args.seed)
    data = rl.write_jsonl(args.workdir / "data.jsonl", sample[: args.questions])
    tune = rl.write_jsonl(args.workdir / "tune.jsonl", sample[args.questions :])
    write_task_yamls(args.workdir / "tasks", data, tune, args.workdir / "hf_datasets")
    print(
        f"workdir {args.workdir}: {args.questions} questions (seed {args.seed}), model {args.model}"
    )

    # 2. This machine's GEMM speed, before any child runs.
    import torch

    print(f"measuring fp32 GEMM on {args.threads} threads...")
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(args.model).to_dict()
    roof = rl.measure_roofline(config, threads=args.threads, tokens=args.gemm_tokens)

    # 3. Each tool in its own processes: tune, then time.
    gold = [q["answer"] for q in sample[: args.questions]]
    rows: list[list[str]] = []
    sweeps: list[str] = []
    profiles: dict[str, dict[str, float]] = {}
    for task in args.tasks:
        results = {}
        for tool in ("lm_eval", "confalign"):
            print(f"{task}: {tool}...")
            batch, sweep = tune_value(args, tool, task)
            result, peak = run_tool(args, tool, task, batch=batch)
            results[tool] = {**result, "peak_rss": peak, "sweep": sweep}
            if result.get("profile"):
                profiles[f"{task} {tool}"] = result["profile"]
            if sweep:
                values = ", ".join(f"{b}: {qps:.2f}" for b, qps in sweep)
                sweeps.append(f"{task} {tool}: {values} -> {batch}")
        rows += task_rows(task, results, roof, args.questions, gold)
        (args.workdir / f"results_{task}.json").write_text(json.dumps(results))

    # 4. One table, then the GEMM measurements behind the bound.
    print()
    print(
        rl.markdown_table(["task", "measure", "lm-eval", "confalign", "confalign vs lm-eval"], rows)
    )
    if sweeps:
        print(f"\nbatch sweeps (questions/s on the {args.tune_questions} tuning questions):")
        print("\n".join(f"  {line}" for line in sweeps))
    if profiles:
        print("\nwhere the time goes (torch.profiler, an extra pass, share of its wall time):")
        print(rl.markdown_table(["kind of work", *profiles], rl.profile_rows(profiles)))
    print()
    print(rl.roofline_table(roof))
    print(
        f"\ntorch {torch.__version__}, {args.threads} threads, fp32, CPU; outputs in {args.workdir}"
    )


if __name__ == "__main__":
    main()
