"""``abawbench train paper-baseline``: the reference method's stages in order inside one
run folder.

Stages (``runs.STAGES``): ``cnn-teacher`` → ``cnn-student`` → ``features`` →
``gru-teacher`` → ``gru-student`` (the last three with ``method.gru``), then the run's
predictions and scores. After each training stage its best weights predict the
validation split, which is written (``stage-predictions/``) and scored with
``abawbench.scoring.score`` (``scores/<stage>-validation-<track>.json``); the last
stage's predictions become the run's (``predictions/``, ``scores/validation-<track>.json``,
and ``test`` predictions when the organisers' test files are under the data root).

Running it again on a run folder does only what is missing: a finished stage whose
outputs are all there (best weights and scores; for ``features`` a cache made from the
current student checkpoint) is skipped; the first stage whose outputs are gone is done
again, and every stage after it from scratch. An unfinished stage resumes from its last
checkpoint with ``--resume``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from abawbench import runs
from abawbench.training import config as config_module

CNN_STAGES = ("cnn-teacher", "cnn-student")
GRU_STAGES = ("features", "gru-teacher", "gru-student")
#: What each stage needs trained before it.
NEEDS = {"cnn-student": "cnn-teacher", "features": "cnn-student", "gru-teacher": "features",
         "gru-student": "gru-teacher"}


def stage_plan(last: str | None, gru: bool = True) -> list[str]:
    """The stages a run executes, in order, up to and including ``last``."""
    plan = list(CNN_STAGES) + (list(GRU_STAGES) if gru else [])
    if last is not None:
        if last not in runs.STAGES:
            raise config_module.ConfigError(f"--stage {last!r}: expected one of {', '.join(runs.STAGES)}")
        if last not in plan:
            raise config_module.ConfigError(f"--stage {last!r}: this run's config has method.gru = false, so its "
                                            f"stages are {', '.join(plan)}")
        plan = plan[: plan.index(last) + 1]
    return plan


def stage_problem(run: runs.RunFolder, record: dict[str, Any], name: str) -> str | None:
    """Why the finished stage ``name`` must be done again (None: its outputs are there)."""
    if record.get("stages", {}).get(name, {}).get("status") != "finished":
        return "not finished"
    if name == "features":
        from abawbench.training import features

        student = run.checkpoint_path("cnn-student", "best")
        if not student.is_file():
            return "the CNN student's weights are gone"
        cache = features.read_cache(run.path)
        if cache is None:
            return "features/ missing"
        if cache.meta.get("checkpoint_sha256") != features.file_sha256(student):
            return "the CNN student checkpoint changed"
        return None
    missing = [str(p.relative_to(run.path)) for p in run.stage_outputs(name) if not p.is_file()]
    return f"{', '.join(missing)} missing" if missing else None


def stages_to_redo(run: runs.RunFolder, plan: list[str]) -> tuple[str | None, str | None]:
    """``(first stage of plan that must run, why)``; every stage after it runs too.
    ``(None, None)`` when every stage of the plan is finished with its outputs."""
    record = run.read()
    for name in plan:
        problem = stage_problem(run, record, name)
        if problem:
            return name, problem
    return None, None


def final_outputs_missing(run: runs.RunFolder) -> bool:
    """Whether the run's own predictions or scores are gone: validation always; test
    unless the run noted that the data root has no organisers' test files."""
    if not all(run.score_path("validation", track).is_file() for track in runs.TRACKS) \
            or not run.predictions_path("validation").is_dir():
        return True
    no_test = any(str(note).startswith("no test") for note in run.read().get("notes", []))
    return not no_test and not run.predictions_path("test").is_dir()


def _config(run: runs.RunFolder, decision_resume: bool, preset: str | None, config_file: Path | None,
            overrides: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, input)``: the stored config when resuming, else the layers resolved.
    Options given when resuming are layered over the stored config: ``runtime.*`` (this
    machine's device, workers, threads...) is taken, any other change refused."""
    given = {"preset": preset, "config_file": str(config_file) if config_file else None, "overrides": list(overrides)}
    if decision_resume and run.exists():
        record = run.read()
        stored = record["config"]
        if preset or config_file or overrides:
            if preset and preset != record.get("preset"):
                layered = config_module.resolve(preset, config_file, overrides)
            else:
                own = {name: value for name, value in stored.items() if name != "derived"}
                layered = config_module.layered(own, config_file, overrides)
            changed = [k for k in config_module.differences(layered, stored) if not k.startswith("derived")
                       and not k.startswith("runtime.")]
            if changed:
                raise config_module.ConfigError(f"--resume continues the run with its own config; the options given "
                                                f"change {', '.join(changed)} (start a new run for that)")
            stored = dict(stored, runtime=layered["runtime"])
        return stored, record.get("config_input", given)
    return config_module.resolve(preset or "paper", config_file, overrides), given


def train_paper_baseline(data: Path, out: Path, preset: str | None = None, config_file: Path | None = None,
                         overrides: list[str] | tuple[str, ...] = (), stage: str | None = None,
                         resume: bool = False, force: bool = False, console=None,
                         command: list[str] | None = None) -> dict[str, Any]:
    """Train the paper baseline into run folder ``out``; returns the final run record."""
    import os

    from abawbench.training import device as device_module

    rank = int(os.environ.get("RANK", "0"))
    writer = rank == 0
    run = runs.RunFolder(out, writer=writer)
    overrides = list(overrides)
    config, config_input = _config(run, resume or (not force and _finished(run)), preset, config_file, overrides)
    config["runtime"] = device_module.resolve_runtime(config["runtime"])
    plan = stage_plan(stage, config["method"]["gru"])
    device = device_module.setup(config["runtime"])
    check_batches(config, device.world_size)

    decision, error = None, None
    if device.is_main:
        try:
            decision = runs.prepare(out, resume, force)
        except runs.RunError as problem:
            error = str(problem)
    decision, error = device_module.broadcast((decision, error), device)
    if error:
        raise runs.RunError(error)
    if decision == "done":
        # finished: anything missing (a stage not run yet, outputs deleted) is done again
        first, why = device_module.broadcast(stages_to_redo(run, plan) if device.is_main else None, device)
        missing = device_module.broadcast(final_outputs_missing(run) if device.is_main else None, device)
        if first is None and not missing:
            if console is not None and device.is_main:
                console.print(f"{out}: the run is finished and every stage's outputs are there; nothing to do "
                              "(--force trains again from scratch)", highlight=False)
            return run.read()
        decision = "resume"
    with run.lock():
        return _train(run, decision, config, config_input, plan, data, device, console,
                      command or ["abawbench"] + sys.argv[1:], preset)


def check_batches(config: dict[str, Any], world_size: int) -> None:
    """Every rank takes an equal share of each part's draws (``RankShare``): refuse, before
    anything trains, a per-task batch of a stage the run will train that does not split."""
    sections = ("cnn", "gru") if config["method"]["gru"] else ("cnn",)
    for section in sections:
        batch = config[section]["batch_per_task"]
        if batch % world_size:
            raise config_module.ConfigError(f"{section}.batch_per_task = {batch} must be divisible by the "
                                            f"{world_size} processes")


def _finished(run: runs.RunFolder) -> bool:
    try:
        return run.exists() and run.read().get("status") == "finished"
    except runs.RunError:
        return False


def _reset_from(run: runs.RunFolder, plan: list[str], console) -> None:
    """Before continuing a run: the first stage that must run keeps its resume checkpoint
    when it is merely unfinished; when its outputs are gone, it and every stage after it
    start from scratch (an earlier stage's new weights make their results stale)."""
    first, why = stages_to_redo(run, plan)
    if first is None:
        return
    record = run.read()
    later = plan[plan.index(first) + 1:]
    redo = ([first] if record["stages"].get(first, {}).get("status") == "finished" else []) + \
        [name for name in later if record["stages"].get(name, {}).get("status") not in (None, "pending")]
    if console is not None and record["stages"].get(first, {}).get("status") == "finished":
        console.print(f"{run.path}: redoing {first} ({why}) and the stages after it", highlight=False)
    for name in redo:
        run.remove_stage_outputs(name)
    run.update(lambda r: [r["stages"].__setitem__(name, {"status": "pending"}) for name in redo])


def _train(run: runs.RunFolder, decision: str, config: dict[str, Any], config_input: dict[str, Any],
           plan: list[str], data: Path, device, console, command: list[str], preset: str | None) -> dict[str, Any]:
    from abawbench.training import device as device_module

    started = time.perf_counter()
    context = _Context.build(config, data, device, run, console)
    if decision == "new":
        record = {
            "schema": runs.SCHEMA, "kind": runs.KIND, "method": "paper-baseline",
            "preset": preset or config_input.get("preset") or "paper", "config": context.config,
            "config_input": config_input, "seed": context.config["seed"], "group": runs.config_group(context.config),
            "data": context.sources.record(), "command": command, "versions": runs.versions(),
            "git": runs.git_state(), "device": device.record(), "started": runs.now(), "finished": None,
            "status": "running", "stages": {name: {"status": "pending"} for name in plan},
            "final_stage": plan[-1], "weights": context.weights_report,
        }
        run.path.mkdir(parents=True, exist_ok=True)
        run.write(record)
    else:
        stored = run.read()
        changed = [k for k in config_module.differences(stored["config"].get("derived", {}),
                                                        context.config["derived"])]
        if changed:
            raise runs.RunError(f"{run.path}: the data differ from when the run started ({', '.join(changed)} "
                                "changed); --force starts over")

        def mark_running(r: dict[str, Any]) -> None:
            r["status"] = "running"
            r.setdefault("resumed", []).append({"time": runs.now(), "device": device.record(),
                                                "command": command})
            for name in plan:
                r.setdefault("stages", {}).setdefault(name, {"status": "pending"})
            r["final_stage"] = plan[-1]
        run.update(mark_running)
        if device.is_main:
            _reset_from(run, plan, console)
    device_module.barrier(device)
    try:
        models: dict[str, Any] = {}
        for name in plan:
            _run_stage(name, run, context, decision == "resume", models)
        _final_predictions(run, context, plan[-1], models)
    except KeyboardInterrupt:
        run.update(lambda r: r.update(status="interrupted"))
        raise
    except BaseException as problem:
        message = f"{type(problem).__name__}: {problem}"
        run.update(lambda r: r.update(status="failed", error=message))
        raise

    def finish(r: dict[str, Any]) -> None:
        r["status"] = "finished"
        r["finished"] = runs.now()
        r["seconds"] = round(time.perf_counter() - started, 1)  # this process's part of the run
        r.pop("error", None)
    record = run.update(finish) if device.is_main else {}
    if console is not None and device.is_main:
        from abawbench.report import print_run

        print_run(console, run.path, record)
    return record


class _Context:
    """What the stages of one run share (data, validation frames, the device)."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self._gru_data = None

    def gru_data(self, models: dict[str, Any]):
        """The GRU stages' data (sequence parts over the feature cache), built once."""
        if self._gru_data is None:
            from abawbench.training.gru import build_gru_data

            cache = _model(self.run, self, models, "features")
            self._gru_data = build_gru_data(self.index, cache.features, self.data.validation_lengths,
                                            self.sources.affwild2, self.sources.edition, self.config)
        return self._gru_data

    @classmethod
    def build(cls, config: dict[str, Any], data: Path, device, run: runs.RunFolder, console) -> _Context:
        import copy

        from abawbench.predict import frames_of_videos, validation_lengths
        from abawbench.training import data as data_module
        from abawbench.training.cnn import TrainingData, authors_steps_per_epoch, build_model, concat_table, \
            input_normalization
        from abawbench.training.device import barrier
        from abawbench.training.inference import FrameInference

        self = cls()
        self.device, self.run, self.console = device, run, console
        config = copy.deepcopy(config)
        self.sources = data_module.resolve_sources(data, config)
        # rank 0 builds the caches (index, external crops) first, the other ranks then read them
        if not device.is_main:
            barrier(device)
        index = data_module.affwild2_index(self.sources)
        tables = data_module.external_tables(self.sources, config, progress=False)
        if device.is_main:
            barrier(device)
        parts = data_module.training_parts(index, tables, config)
        batch = config["cnn"]["batch_per_task"]
        steps = config["cnn"]["steps_per_epoch"] or authors_steps_per_epoch(parts, batch)
        if steps < 1:
            small = min(parts, key=lambda n: len(parts[n]))
            raise config_module.ConfigError(f"part {small!r} has {len(parts[small])} rows, fewer than "
                                            f"cnn.batch_per_task = {batch}: set cnn.steps_per_epoch")
        lengths = validation_lengths(self.sources.affwild2, self.sources.edition)
        frames = frames_of_videos(index, set(lengths["expr"]) | set(lengths["va"]))
        self.index = index
        self.data = TrainingData(parts=parts, table=concat_table(parts), steps_per_epoch=steps,
                                 validation_frames=frames, validation_lengths=lengths,
                                 affwild2_root=self.sources.affwild2, edition=self.sources.edition)
        probe, self.weights_report = build_model(config)
        normalization = input_normalization(config, probe)
        del probe
        config["derived"] = {
            "edition": self.sources.edition,
            "steps_per_epoch": steps,
            "part_rows": {name: len(table) for name, table in parts.items()},
            "part_sources": {name: sorted(str(s) for s in table["source"].unique()) for name, table in parts.items()},
            "validation_frames": int(len(frames)),
            "input_normalization": {"mean": list(normalization.mean), "std": list(normalization.std),
                                    "scale": normalization.scale},
            "input_resize": int(config["data"]["resize_scale"] * config["data"]["image_size"]),
            "world_size": device.world_size,
            "batch_per_task_per_rank": batch // device.world_size,
        }
        self.config = config
        runtime = config["runtime"]
        self.inference = FrameInference(frames, device, size=config["data"]["image_size"],
                                        scale=config["data"]["resize_scale"],
                                        batch_size=config["cnn"]["eval_batch_size"], workers=runtime["workers"],
                                        cache_mb=runtime["eval_cache_mb"])
        return self


def _run_stage(name: str, run: runs.RunFolder, context: _Context, resume: bool, models: dict[str, Any]) -> None:
    """Train (or skip, when finished) one stage; its trained model goes into ``models``."""
    from abawbench.training.device import seed_everything, stage_seed
    from abawbench.training.loop import Trainer

    if name == "features":  # reads a valid cache, or extracts it
        _features(run, context, models)
        return
    config, device = context.config, context.device
    record = _broadcast(run.read() if device.is_main else None, device)
    if record["stages"].get(name, {}).get("status") == "finished":
        return
    seed = stage_seed(config["seed"], name)
    seed_everything(seed + device.rank)
    teacher = _model(run, context, models, NEEDS[name]) if name in ("cnn-student", "gru-student") else None
    if name.startswith("cnn-"):
        from abawbench.training.cnn import CnnStage, schedule

        stage = CnnStage(name, config, context.data, device, seed, context.inference, teacher=teacher)
        steps = context.data.steps_per_epoch
        plan = schedule(config, steps)
    else:
        from abawbench.training.gru import GruStage, gru_schedule

        stage = GruStage(name, config, context.gru_data(models), device, seed, teacher=teacher,
                         cnn=_model(run, context, models, "cnn-student") if config["gru"]["features"] == "online"
                         else None)
        plan = gru_schedule(config, stage.steps_per_epoch)
    if context.console is not None and device.is_main:
        context.console.rule(f"{name}")
    run.set_stage(name, status="running", started=record["stages"].get(name, {}).get("started") or runs.now())
    trainer = Trainer(run, device, log_every=config["runtime"]["log_every"],
                      checkpoint_every=config["runtime"]["checkpoint_every"], progress=config["runtime"]["progress"],
                      console=context.console)
    clock = time.perf_counter()
    result = trainer.fit(stage, plan, resume=resume)
    seconds = time.perf_counter() - clock
    scores = _stage_scores(run, context, stage)
    metrics = run.metrics(name) if device.is_main else []
    speeds = [line["images_per_s"] for line in metrics if "images_per_s" in line]
    run.set_stage(name, status="finished", finished=runs.now(), epochs=result["epochs"],
                  best_epoch=result["best_epoch"], stopped=result["stopped"], steps=result["steps"],
                  validation=scores, best_epoch_validation=result["validation"],
                  seconds=round(seconds + record["stages"].get(name, {}).get("seconds", 0.0), 1),
                  images_per_s=round(sum(speeds) / len(speeds), 1) if speeds else None,
                  checkpoint=str(run.checkpoint_path(name, "best").relative_to(run.path)))
    models[name] = stage.model


def _features(run: runs.RunFolder, context: _Context, models: dict[str, Any]) -> None:
    """The ``features`` stage: the cache when it is valid, else the student extracts it."""
    from abawbench.data.loading import InputNormalizer
    from abawbench.training import features
    from abawbench.training.cnn import input_normalization
    from abawbench.training.device import stage_seed

    config, device = context.config, context.device
    views = 1 + (config["gru"]["augmented_views"] if config["gru"]["features"] == "cached" else 0)
    student_path = run.checkpoint_path("cnn-student", "best")
    sha = _broadcast(features.file_sha256(student_path) if device.is_main else None, device)
    signature = features.index_signature(context.index)
    cache = features.read_cache(run.path)
    if features.cache_problem(cache, sha, signature, views) is None:
        models["features"] = cache
        return
    if context.console is not None and device.is_main:
        context.console.rule("features")
    student = _model(run, context, models, "cnn-student")
    normalizer = InputNormalizer(input_normalization(config, student), channels_last=device.channels_last
                                 ).to(device.device)
    run.set_stage("features", status="running", started=runs.now())
    clock = time.perf_counter()
    cache = features.extract(run.path, student, normalizer, context.index, device, views=views,
                             size=config["data"]["image_size"], scale=config["data"]["resize_scale"],
                             batch_size=config["gru"]["feature_batch_size"], workers=config["runtime"]["workers"],
                             seed=stage_seed(config["seed"], "features"), checkpoint_sha=sha, console=context.console,
                             show_progress=config["runtime"]["progress"])
    run.set_stage("features", status="finished", finished=runs.now(), seconds=round(time.perf_counter() - clock, 1),
                  checkpoint_sha256=sha, views=views, rows=cache.meta["rows"],
                  rows_with_crop=cache.meta["rows_with_crop"], bytes=cache.meta["bytes"],
                  images_per_s=round(cache.meta["images"] / max(cache.meta["seconds"], 1e-9), 1))
    models["features"] = cache


def _model(run: runs.RunFolder, context: _Context, models: dict[str, Any], name: str):
    """The trained model of stage ``name``: this process's, or its best checkpoint."""
    if name not in models:
        models[name] = _load_best(run, context, name)
    return models[name]


def _broadcast(value, device):
    from abawbench.training.device import broadcast

    return broadcast(value, device)


def _load_best(run: runs.RunFolder, context: _Context, name: str):
    import torch

    from abawbench.training.cnn import build_model
    from abawbench.training.gru import build_gru

    if name == "features":
        from abawbench.training import features

        cache = features.read_cache(run.path)
        if cache is None:
            raise runs.RunError(f"{run.path}: the feature cache is missing; delete the features stage's record or "
                                "use --force")
        return cache
    model = build_gru(context.config) if name.startswith("gru-") else build_model(context.config)[0]
    checkpoint = run.load_checkpoint(name, "best", map_location="cpu")
    if checkpoint is None:
        raise runs.RunError(f"{run.path}: stage {name} has no best checkpoint ({run.checkpoint_path(name, 'best')})")
    model.load_state_dict(checkpoint["model"])
    memory = torch.channels_last if context.device.channels_last else torch.preserve_format
    return model.to(context.device.device, memory_format=memory).eval()


def _stage_scores(run: runs.RunFolder, context: _Context, stage) -> dict[str, float]:
    """Predict the validation split with the stage's best weights, write it under
    ``stage-predictions/<stage>/validation`` and score it as ``abawbench score --json``
    does; returns the run record's validation block (from those score files)."""
    from abawbench import atomic, scoring
    from abawbench.predict import validation_summary, write_predictions

    validation = stage.validate()
    if not context.device.is_main:
        return validation.metrics
    folder = run.stage_predictions_path(stage.name, "validation")
    write_predictions(folder, validation.extra, context.sources.edition, context.sources.affwild2, "validation",
                      provenance={"run": str(run.path), "stage": stage.name})
    results = {}
    for track in ("expr", "va"):
        result = scoring.score(folder / track, context.sources.affwild2, track, context.sources.edition,
                               "validation")
        atomic.write_json(run.score_path("validation", track, stage.name), result)
        results[track] = result["metrics"]
    return validation_summary(results["expr"], results["va"])


def _final_predictions(run: runs.RunFolder, context: _Context, final_stage: str, models: dict[str, Any]) -> None:
    """The run's predictions from the final stage: validation (the stage's own
    validation predictions, scored again as the run's) and, when the organisers' test
    files are under the data root, test."""
    import shutil

    from abawbench import atomic, scoring
    from abawbench.predict import PredictionError, test_references, write_predictions

    device = context.device
    if final_stage == "features":
        final_stage = "cnn-student"  # --stage features: the run's predictions stay the student's
    if device.is_main:
        source = run.stage_predictions_path(final_stage, "validation")
        if not source.is_dir():
            raise runs.RunError(f"{source}: the final stage's validation predictions are missing; "
                                "delete the stage's record or use --force")
        with atomic.staged_folder(run.predictions_path("validation")) as staging:
            shutil.copytree(source, staging, dirs_exist_ok=True)
        for track in ("expr", "va"):
            result = scoring.score(run.predictions_path("validation", track), context.sources.affwild2, track,
                                   context.sources.edition, "validation")
            atomic.write_json(run.score_path("validation", track), result)
    try:
        references = test_references(context.sources.affwild2, context.sources.edition, context.index)
    except PredictionError as problem:
        note = f"no test predictions: {problem}"
        run.update(lambda r: r.update(notes=[n for n in r.get("notes", []) if not n.startswith("no test")] + [note]))
        return
    model = _model(run, context, models, final_stage)
    if final_stage.startswith("gru-"):
        from abawbench.training.gru import predict_videos

        videos = predict_videos(model, context.gru_data(models), context.device, context.config, references[0])
    else:
        videos = _predict_frames_of(context, model, references[0])
    videos.notes += references[2]
    if device.is_main:
        write_predictions(run.predictions_path("test"), videos, context.sources.edition, context.sources.affwild2,
                          "test", templates=references[1], provenance={"run": str(run.path), "stage": final_stage})


def _predict_frames_of(context: _Context, model, lengths: dict[str, dict[str, int]]):
    """Per-video predictions (gaps filled) of the videos in ``lengths``."""
    from abawbench.data.loading import InputNormalizer
    from abawbench.predict import frames_of_videos, per_video
    from abawbench.training.cnn import input_normalization
    from abawbench.training.inference import FrameInference

    config = context.config
    normalizer = InputNormalizer(input_normalization(config, model), channels_last=context.device.channels_last
                                 ).to(context.device.device)
    frames = frames_of_videos(context.index, set().union(*(set(v) for v in lengths.values())))
    inference = FrameInference(frames, context.device, size=config["data"]["image_size"],
                               scale=config["data"]["resize_scale"], batch_size=config["cnn"]["eval_batch_size"],
                               workers=config["runtime"]["workers"], cache_mb=0)
    predictions = inference.predict(model, normalizer)
    return per_video(inference.frames, predictions.expr, predictions.va, predictions.predicted, lengths)
