"""``recalibrate_run``: fit maps on a calibration set, apply them to an evaluated run, store.

The calibration set is one of (``RecalibrateConfig``):

- another run (``fit_run``): its rows of the same datasets and method keys, e.g. the same
  model on another seed's sample;
- a seeded fraction of the evaluated run itself (``fit_fraction``, ``fit_seed``), held apart
  by example id (stratified by subject); the result then goes to a new run (``output``) that
  holds only the other examples, so before and after are measured on the same examples;
- maps fitted before (``apply``: a ``recalibration.json``), applied without refitting.

An example id in both the fit and the evaluated set is refused (``--drop-overlap`` fits
without those examples instead, and records how many were dropped), as is a fit set with a
single class. Everything is checked and fitted before anything is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confalign.data.example import QAExample
from confalign.data.sampling import train_heldout_split
from confalign.metrics import TemperatureScaling
from confalign.metrics.recalibration import TEMPERATURE_BOUNDS
from confalign.recalibrate import maps as maps_
from confalign.recalibrate.apply import apply_maps
from confalign.recalibrate.fit import (
    FILE_NAME,
    Recalibration,
    RecalibrationError,
    check_overlap,
    fit_maps,
)
from confalign.recalibrate.maps import MAPS
from confalign.runs import ResultRow, RunStore, is_recalibrated
from confalign.runs.manifest import utc_now


@dataclass(frozen=True)
class RecalibrateConfig:
    """One recalibration. Exactly one of ``fit_run``, ``fit_fraction``, ``apply``.

    ``maps``: of ``platt``, ``isotonic``, ``histogram``, ``temperature``. ``output``: a new
    run directory for the result; None writes into ``run`` (required with ``fit_fraction``).
    ``drop_overlap``: fit without the examples also in ``run`` instead of refusing them.
    """

    run: Path
    fit_run: Path | None = None
    fit_fraction: float | None = None
    fit_seed: int = 0
    apply: Path | None = None
    maps: tuple[str, ...] = MAPS
    output: Path | None = None
    drop_overlap: bool = False

    def __post_init__(self) -> None:
        given = [n for n in ("fit_run", "fit_fraction", "apply") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one calibration set: --fit RUN, --fit FRACTION or --apply FILE"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.fit_fraction is not None and not 0.0 < self.fit_fraction < 1.0:
            raise ValueError(f"fit fraction must be in (0, 1), got {self.fit_fraction}")
        if self.fit_fraction is not None and self.output is None:
            raise ValueError(
                "--fit FRACTION holds examples of the run apart: write the result to a new run "
                "with --output, so that before and after cover the same examples"
            )
        unknown = [m for m in self.maps if m not in MAPS]
        if unknown or not self.maps:
            raise ValueError(
                f"unknown recalibration map(s) {', '.join(unknown) or '(none given)'}; "
                f"known: {', '.join(MAPS)}"
            )


@dataclass(frozen=True)
class RecalibrateResult:
    """Where the result went, what was fitted, how many rows were written."""

    run_dir: Path
    file: Path
    recalibration: Recalibration
    n_rows: int
    dropped: Mapping[str, int]


def recalibrate_run(config: RecalibrateConfig) -> RecalibrateResult:
    """Fit (or load) the maps, check them against the evaluated examples, store the result."""
    manifest, rows = _load(config.run)
    eval_rows, fit_rows, source = _split(config, rows)
    eval_ids = {d: sorted({r.example_id for r in rs}) for d, rs in eval_rows.items()}
    dropped: dict[str, int] = {}
    if config.apply is not None:
        recalibration = _only(Recalibration.load(config.apply), config.maps, config.apply)
        _refuse_overlap(check_overlap(recalibration.fit_ids, eval_ids), "fitted")
    else:
        overlap = check_overlap(
            {d: [r.example_id for r in rs] for d, rs in fit_rows.items()}, eval_ids
        )
        if overlap and not config.drop_overlap:
            _refuse_overlap(overlap, "fit")
        if overlap:
            fit_rows = _without(fit_rows, eval_ids)
            if not any(fit_rows.values()):
                raise RecalibrationError("every fit example is also evaluated: none is left")
            dropped = overlap
            source = {**source, "dropped_overlap": dropped}
        recalibration = fit_maps(fit_rows, _wanted(eval_rows, fit_rows), config.maps, source)
    new_rows = apply_maps(recalibration, eval_rows)
    if not new_rows:
        raise RecalibrationError(
            f"nothing to recalibrate: no dataset and method key of {config.run} has a map"
        )
    out_dir = _write(config, manifest, eval_rows, new_rows, recalibration)
    return RecalibrateResult(out_dir, out_dir / FILE_NAME, recalibration, len(new_rows), dropped)


def _only(recalibration: Recalibration, map_names: Sequence[str], path: Path) -> Recalibration:
    """The loaded maps of ``map_names``, their source marked as applied from ``path``."""
    entries = tuple(e for e in recalibration.entries if e.map in map_names)
    source = {**recalibration.source, "applied_from": str(path)}
    return dataclasses.replace(recalibration, entries=entries, source=source)


def _load(run: Path) -> tuple[dict[str, Any], dict[str, list[ResultRow]]]:
    with RunStore.open(run) as store:
        manifest = store.manifest
        rows = {d: store.rows(d) for d in store.datasets()}
    # Rows of earlier recalibrations are neither fitted nor recalibrated again.
    return manifest, {
        d: [r for r in rs if not is_recalibrated(r.method_key)] for d, rs in rows.items()
    }


def _split(
    config: RecalibrateConfig, rows: dict[str, list[ResultRow]]
) -> tuple[dict[str, list[ResultRow]], dict[str, list[ResultRow]], dict[str, Any]]:
    """(evaluated rows, fit rows, where the fit rows came from) per dataset."""
    if config.fit_run is not None:
        _, fit_rows = _load(config.fit_run)
        return rows, fit_rows, {"kind": "run", "run": str(config.fit_run)}
    if config.apply is not None:
        return rows, {}, {"kind": "apply", "file": str(config.apply)}
    fraction = float(config.fit_fraction or 0.0)
    eval_rows: dict[str, list[ResultRow]] = {}
    fit_rows: dict[str, list[ResultRow]] = {}
    for dataset, dataset_rows in rows.items():
        held = _held_apart(dataset_rows, fraction, config.fit_seed)
        fit_rows[dataset] = [r for r in dataset_rows if r.example_id in held]
        eval_rows[dataset] = [r for r in dataset_rows if r.example_id not in held]
    source = {
        "kind": "fraction",
        "run": str(config.run),
        "fraction": fraction,
        "seed": config.fit_seed,
    }
    return eval_rows, fit_rows, source


def _held_apart(rows: Sequence[ResultRow], fraction: float, seed: int) -> set[str]:
    """The ids of a seeded, subject-stratified ``fraction`` of the examples of ``rows``
    (``confalign.data.sampling``'s split, so the same seed holds apart the same ids)."""
    subjects = {r.example_id: r.subject for r in rows}
    examples = [QAExample(id=i, question="-", subject=s) for i, s in subjects.items()]
    split = train_heldout_split(examples, heldout=fraction, seed=seed, stratify=True)
    return {ex.id for ex in split.heldout}


def _refuse_overlap(overlap: Mapping[str, int], what: str) -> None:
    if overlap:
        counts = ", ".join(f"{n} in {d}" for d, n in overlap.items())
        raise RecalibrationError(
            f"{sum(overlap.values())} {what} example id(s) are also evaluated ({counts}); fit on "
            "disjoint examples" + (" or pass --drop-overlap" if what == "fit" else "")
        )


def _without(
    rows: Mapping[str, Sequence[ResultRow]], ids: Mapping[str, Sequence[str]]
) -> dict[str, list[ResultRow]]:
    return {d: [r for r in rs if r.example_id not in set(ids.get(d, ()))] for d, rs in rows.items()}


def _wanted(
    eval_rows: Mapping[str, Sequence[ResultRow]], fit_rows: Mapping[str, Sequence[ResultRow]]
) -> dict[str, list[str]]:
    """The (dataset, method key) pairs both sets hold."""
    out = {}
    for dataset, rows in eval_rows.items():
        fit_keys = {r.method_key for r in fit_rows.get(dataset, ())}
        keys = sorted({r.method_key for r in rows} & fit_keys)
        if keys:
            out[dataset] = keys
    if not out:
        raise RecalibrationError("the fit set shares no dataset and method key with the run")
    return out


def _write(
    config: RecalibrateConfig,
    manifest: Mapping[str, Any],
    eval_rows: Mapping[str, Sequence[ResultRow]],
    new_rows: Sequence[ResultRow],
    recalibration: Recalibration,
) -> Path:
    summary = {
        "file": FILE_NAME,
        "at": utc_now(),
        "source": dict(recalibration.source),
        "maps": [
            {
                **{k: v for k, v in m.items() if k != "params"},
                "parameters": maps_.summary(e.fitted),
            }
            for m, e in zip(recalibration.to_json()["maps"], recalibration.entries, strict=True)
        ],
    }
    if config.output is None:
        with RunStore.append(config.run) as store:
            stale = {(d, k) for d in eval_rows for k in store.method_keys(d) if is_recalibrated(k)}
            store.replace(new_rows, delete=stale)
            recalibration.save(config.run / FILE_NAME)
            store.update_manifest(recalibration=summary)
        return config.run
    identity = {**manifest.get("identity", {}), "recalibration_of": str(config.run)}
    identity["recalibration_source"] = dict(recalibration.source)
    with RunStore.create(config.output, identity, recalibration=summary) as store:
        store.replace([r for rs in eval_rows.values() for r in rs] + list(new_rows))
        recalibration.save(config.output / FILE_NAME)
        store.finish("complete")
    return config.output


def describe(result: RecalibrateResult) -> list[str]:
    """Lines for the terminal: each map fitted (with its fit size), each skipped."""
    lines = []
    for e in result.recalibration.entries:
        line = f"  {e.dataset}: {e.key} (fitted on {e.n_fit}, {e.n_fit_correct} correct)"
        if isinstance(e.fitted, TemperatureScaling):
            t = e.fitted.temperature
            line += f", T = {t:.3g}"
            low, high = TEMPERATURE_BOUNDS
            if not low * 1.001 < t < high / 1.001:
                line += " (at the search bound: the fit set's NLL wants it further)"
        lines.append(line)
    for d, k, m, why in result.recalibration.skipped:
        lines.append(f"  {d}: {k}+{m} skipped: {why}")
    for d, n in result.dropped.items():
        lines.append(f"  {d}: {n} fit example(s) also evaluated were left out of the fit")
    return lines
