"""The paper's ablation (its Tables 1-3) from run folders, our numbers beside the paper's.

Each row of the paper's tables is a configuration (``config.method`` of ``run.json``:
``tasks``, ``shared_annotations``, ``gru``) and a training stage; a row gathers every
run folder whose config matches, takes that stage's validation scores
(``scores/<stage>-validation-<track>.json``, else ``run.json``'s
``stages.<stage>.validation``), and reports mean ± std over the runs (seeds) beside the
paper's mean of 10 runs. Each table's second row is compared with its first (Welch t
over seeds) and the sign of the difference checked against the paper's.

The run folders given are taken to differ only in those switches and their seeds; a
seed counts once per row (the CNN teacher of a run with sharing and of one without is
the same training when the seed is the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abawbench.compare import (SCHEMA, CompareError, Scored, config_value, read_json, read_run, run_synthetic,
                               score_files, scored_from_json)
from abawbench.significance import seed_interval, significant

# The paper's Tables 1-3 (Aff-Wild2 validation, means of 10 runs; docs/method.md):
# EXPR criterion, CCC valence, CCC arousal.
PAPER_BASELINE = ("ABAW 2021 baseline (organisers)", (0.366, 0.23, 0.21))


@dataclass(frozen=True)
class AblationRow:
    table: str
    label: str
    stage: str
    match: tuple  # ((dotted config key, value), ...)
    paper: tuple[float, float, float]


ABLATION_ROWS = (
    AblationRow("Table 1 · CNN teacher", "Multitask T ∈ {1, 2}", "cnn-teacher",
                (("method.tasks", [1, 2]),), (0.498, 0.374, 0.407)),
    AblationRow("Table 1 · CNN teacher", "Multitask T ∈ {1, 2, 3}", "cnn-teacher",
                (("method.tasks", [1, 2, 3]),), (0.513, 0.438, 0.398)),
    AblationRow("Table 2 · CNN student, T = {1, 2, 3}", "No sharing", "cnn-student",
                (("method.tasks", [1, 2, 3]), ("method.shared_annotations", False)), (0.513, 0.472, 0.412)),
    AblationRow("Table 2 · CNN student, T = {1, 2, 3}", "With sharing", "cnn-student",
                (("method.tasks", [1, 2, 3]), ("method.shared_annotations", True)), (0.525, 0.471, 0.421)),
    AblationRow("Table 3 · CNN + GRU, T = {1, 2, 3}", "Teacher model", "gru-teacher",
                (("method.tasks", [1, 2, 3]), ("method.gru", True)), (0.555, 0.523, 0.543)),
    AblationRow("Table 3 · CNN + GRU, T = {1, 2, 3}", "Student model", "gru-student",
                (("method.tasks", [1, 2, 3]), ("method.gru", True), ("method.shared_annotations", True)),
                (0.555, 0.526, 0.551)),
)
ABLATION_COLUMNS = (("expr", "criterion", "EXPR"), ("va", "valence", "Valence"), ("va", "arousal", "Arousal"))
# run.json stages.<stage>.validation names of the same numbers
_RUN_JSON_NAMES = {("expr", "criterion"): "expr_criterion", ("expr", "f1"): "expr_f1", ("expr", "acc"): "expr_acc",
                   ("va", "valence"): "valence", ("va", "arousal"): "arousal", ("va", "mean"): "va_mean"}


def _matches(config: dict, match: tuple) -> bool:
    for key, wanted in match:
        try:
            value = config_value(config, key, "")
        except CompareError:
            return False
        if isinstance(wanted, list):
            if not isinstance(value, (list, tuple)) or sorted(value) != sorted(wanted):
                return False
        elif value != wanted:
            return False
    return True


def _stage_numbers(folder: Path, run: dict, stage: str) -> tuple[dict, list[str], list[Scored]]:
    """``{(track, metric): value}`` of one run's stage: its score files, else run.json."""
    numbers, notes, scored = {}, [], []
    for track, path in score_files(folder, stage).items():
        entry = scored_from_json(read_json(path, "a score JSON"), path, folder.name, "run", run, stage)
        scored.append(entry)
        for name, value in entry.metrics.items():
            numbers[(track, name)] = value
    recorded = ((run.get("stages") or {}).get(stage) or {}).get("validation") or {}
    for key, name in _RUN_JSON_NAMES.items():
        if key not in numbers and isinstance(recorded.get(name), (int, float)):
            numbers[key] = float(recorded[name])
            notes.append(f"{folder.name} {stage}: {key[1]} from run.json (no scores/{stage}-validation-{key[0]}.json)")
    return numbers, notes, scored


def order_verdict(delta: float, real: bool | None, paper_delta: float) -> str:
    """Does our difference between two rows agree with the paper's, in words?"""
    qualifier = {True: "significant", False: "not significant", None: "no spread to judge"}[real]
    if paper_delta == 0:
        ours = {True: "ours differ significantly", False: "ours do not differ significantly",
                None: "ours have no spread to judge"}[real]
        return f"the paper has them equal; {ours}"
    if np.sign(delta) == np.sign(paper_delta):
        return f"same order as the paper ({qualifier})"
    return f"order differs from the paper ({qualifier})"


def ablation_table(paths: list[Path]) -> dict:
    """The paper's Tables 1-3 from run folders: each row gathers the runs whose
    ``config.method`` matches it, takes the row's stage, and reports mean ± std over them
    beside the paper's number; each table's second row is compared with its first
    (Welch t over seeds) and the sign checked against the paper's."""
    runs = []
    for path in paths:
        path = Path(path)
        if not (path.is_dir() and (path / "run.json").is_file()):
            raise CompareError(f"{path}: --table ablation takes run folders (run.json + scores/)")
        run = read_run(path)
        if not isinstance(run.get("config"), dict) or not isinstance(run["config"].get("method"), dict):
            raise CompareError(f"{path}/run.json: no config.method table: cannot tell which ablation row the run is")
        runs.append((path, run))
    rows, notes = [], []
    frames: dict[tuple, set] = {}
    for spec in ABLATION_ROWS:
        cells: dict[tuple, list[float]] = {}
        members = []
        seeds: dict = {}
        for path, run in runs:
            if not _matches(run["config"], spec.match):
                continue
            numbers, stage_notes, scored = _stage_numbers(path, run, spec.stage)
            if not numbers:
                continue
            # A stage that does not depend on a switch (the teacher on sharing) is the same
            # run in every run folder of that seed: count each seed once.
            seed = run.get("seed")
            if seed is not None and seed in seeds:
                notes.append(f"{spec.label} ({spec.stage}): {path.name} has seed {seed} like {seeds[seed]}; "
                             "counted once")
                continue
            seeds[seed] = path.name
            members.append({"run": str(path), "seed": run.get("seed"), "synthetic": run_synthetic(run)})
            notes += stage_notes
            for s in scored:
                frames.setdefault((s.track, s.edition, s.split), set()).add(s.frame_signature)
            for column in ABLATION_COLUMNS:
                if column[:2] in numbers:
                    cells.setdefault(column[:2], []).append(numbers[column[:2]])
        ours = {}
        for (track, metric, title), paper in zip(ABLATION_COLUMNS, spec.paper):
            values = cells.get((track, metric), [])
            array = np.asarray(values, dtype=np.float64)
            ours[title] = {"mean": float(array.mean()) if len(array) else None,
                           "std": float(array.std(ddof=1)) if len(array) > 1 else None,
                           "n": len(values), "values": [float(v) for v in values], "paper": paper}
        rows.append({"table": spec.table, "label": spec.label, "stage": spec.stage,
                     "config": {k: v for k, v in spec.match}, "n": len(members), "runs": members,
                     "synthetic": any(m["synthetic"] for m in members), "columns": ours})
    for (track, edition, split), signatures in frames.items():
        if len(signatures) > 1:
            notes.append(f"{track.upper()} {edition} {split}: the runs were scored on {len(signatures)} different "
                         "frame sets: their means mix test sets")
    orders = []
    for table in dict.fromkeys(r["table"] for r in rows):
        first, second = [r for r in rows if r["table"] == table]
        for title in (c[2] for c in ABLATION_COLUMNS):
            a, b = second["columns"][title], first["columns"][title]
            paper_delta = round(a["paper"] - b["paper"], 6)  # the paper's numbers have 3 decimals
            if not a["values"] or not b["values"]:
                continue
            interval = seed_interval(a["values"], b["values"])
            real = significant(interval["ci95"])
            orders.append({"table": table, "column": title, "rows": [second["label"], first["label"]],
                           "delta": interval["delta"], "ci95": interval["ci95"], "method": interval["method"],
                           "significant": real, "paper_delta": paper_delta,
                           "same_sign_as_paper": None if paper_delta == 0 else
                           bool(np.sign(interval["delta"]) == np.sign(paper_delta)),
                           "verdict": order_verdict(interval["delta"], real, paper_delta)})
    if any(r["synthetic"] for r in rows):
        notes.append("ours: runs on synthetic data (abawbench data synth): not comparable to the paper's Aff-Wild2 numbers")
    return {"schema": SCHEMA, "kind": "abawbench-ablation",
            "paper": "Vu, Beurton-Aimar, Marchand, Multitask Multi-database Emotion Recognition (ABAW 2021), "
                     "Tables 1-3: Aff-Wild2 validation, means of 10 runs",
            "baseline": {"label": PAPER_BASELINE[0], "paper": dict(zip((c[2] for c in ABLATION_COLUMNS), PAPER_BASELINE[1]))},
            "columns": [c[2] for c in ABLATION_COLUMNS], "rows": rows, "orders": orders,
            "notes": list(dict.fromkeys(notes))}
