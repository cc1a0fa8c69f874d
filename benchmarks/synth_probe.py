"""Learnability probe of the synthetic data: can a small CNN learn expression, valence and
arousal from the ``demo`` size within a few CPU minutes, on people it never saw?

It uses the project's own pieces end to end: ``data synth`` (:func:`synthesize`), the
index (:func:`abawbench.data.affwild2.index`), the loaders (:class:`FrameDataset`,
:func:`make_loader`, :func:`normalize_on_device`) and the metrics
(:mod:`abawbench.metrics`). The model is a 4-conv multitask CNN at 64 px (EXPR 7-class
head, VA regression head with tanh), Adam with a cosine learning rate over the time
budget; the loss is cross-entropy + (1 - CCC) per VA dimension + MSE.

It reports validation EXPR criterion (0.67·F1 + 0.33·accuracy, 7 classes as in ABAW2),
valence and arousal CCC at each evaluation, the per-video-mean predictor's CCC on
validation (the identity shortcut: should stay near 0), training images/s and how much
CPU the run actually got (the machine may be shared).

    PYTHONPATH=$PWD python benchmarks/synth_probe.py --steps 500 --seed 0 [--json FILE]

The slow test ``tests/test_synth.py::test_demo_size_is_learnable`` runs it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXPR_CLASSES = 7  # the ABAW2 layout: Other is written -1 and left out


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (loader workers, once joined)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build_model():
    import torch.nn as nn

    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

    class ProbeNet(nn.Module):
        """(N, 3, 64, 64) normalised images -> EXPR logits (N, 7), VA (N, 2) in [-1, 1]."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 32, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
                block(32, 64), nn.MaxPool2d(2), block(64, 128), nn.MaxPool2d(2), block(128, 256),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2))
            self.expr = nn.Linear(256, EXPR_CLASSES)
            self.va = nn.Linear(256, 2)

        def forward(self, x):
            h = self.features(x)
            return self.expr(h), self.va(h).tanh()

    return ProbeNet()


def _ccc_loss(prediction, truth):
    """1 - CCC over the valid entries of a batch (population moments), as a torch scalar."""
    mx, my = prediction.mean(), truth.mean()
    vx, vy = prediction.var(unbiased=False), truth.var(unbiased=False)
    cov = ((prediction - mx) * (truth - my)).mean()
    return 1 - 2 * cov / (vx + vy + (mx - my) ** 2 + 1e-8)


def per_video_mean_ccc(frames) -> dict:
    """CCC of giving every frame its own video's mean valence/arousal (valid VA frames)."""
    from abawbench.metrics import concordance_cc

    result = {}
    for column in ("valence", "arousal"):
        means = frames.groupby("video", observed=True)[column].transform("mean")
        result[column] = float(concordance_cc(means.to_numpy(np.float64), frames[column].to_numpy(np.float64)))
    return result


def run_probe(root: Path | None = None, seed: int = 0, steps: int = 500, size: int = 64, batch: int = 64,
              workers: int = 1, threads: int = 2, evaluations: int = 3, preset: str = "demo", log=print) -> dict:
    """Synthesize (unless ``root`` is given), train ``steps`` batches of ``batch`` images,
    evaluate ``evaluations`` times evenly; return the record.

    The budget is a number of images, not seconds, so that the scores do not depend on
    how busy a shared machine is; the record says how long it took and how much CPU the
    run got (``cpu_cores_used``), from which the time on an idle machine follows."""
    import torch
    import torch.nn.functional as F

    from abawbench.data.affwild2 import index
    from abawbench.data.loading import FrameDataset, make_loader, normalize_on_device
    from abawbench.data.synth import synthesize
    from abawbench.metrics import accuracy, concordance_cc, confusion_matrix, expr_criterion, macro_f1

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    started = time.perf_counter()
    load_start = os.getloadavg()
    record: dict = {"seed": seed, "steps": steps, "size": size, "batch": batch, "workers": workers,
                    "threads": threads, "preset": preset}
    with tempfile.TemporaryDirectory(prefix="synth-probe-") as scratch:
        if root is None:
            root = Path(scratch) / "data"
            t = time.perf_counter()
            synthesize(root, preset=preset, seed=seed)
            record["synth_s"] = round(time.perf_counter() - t, 2)
            log(f"synthesized {preset} (seed {seed}) in {record['synth_s']} s")
        table = index(Path(root) / "affwild2_abaw2", cache=False)
        table = table[table["has_crop"]]
        expr_ok = (table["expr"] >= 0) & (table["expr"] < EXPR_CLASSES)
        va_ok = table["valence"] > -5

        def part(split: str):
            rows = table[((table["split_expr"] == split) & expr_ok) | ((table["split_va"] == split) & va_ok)].copy()
            rows.loc[(rows["split_expr"] != split) | ~expr_ok.loc[rows.index], "expr"] = -1
            off = (rows["split_va"] != split) | ~va_ok.loc[rows.index]
            rows.loc[off, ["valence", "arousal"]] = -5.0
            rows.attrs.update(table.attrs)
            return rows

        train, validation = part("train"), part("validation")
        va_validation = validation[validation["valence"] > -5]
        record["train_frames"], record["validation_frames"] = len(train), len(validation)

        def videos(rows) -> dict:
            return {"expr": int(rows.loc[rows["expr"] >= 0, "video"].nunique()),
                    "va": int(rows.loc[rows["valence"] > -5, "video"].nunique())}

        record["train_videos"], record["validation_videos"] = videos(train), videos(validation)
        record["per_video_mean_ccc"] = {k: round(v, 4) for k, v in per_video_mean_ccc(va_validation).items()}
        log(f"train {len(train)} frames, validation {len(validation)}; videos {record['validation_videos']}; "
            f"per-video-mean CCC {record['per_video_mean_ccc']}")

        train_set = FrameDataset(train, size=size, train=True, seed=seed)
        loader = make_loader(train_set, batch, workers=workers, shuffle=True, seed=seed, drop_last=True,
                             persistent_workers=workers > 0)
        eval_set = FrameDataset(validation, size=size, train=False)
        eval_loader = make_loader(eval_set, 256, workers=workers)

        model = build_model().to(memory_format=torch.channels_last)
        optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)

        def evaluate() -> dict:
            model.eval()
            rows, logits, va = [], [], []
            with torch.no_grad():
                for b in eval_loader:
                    out_expr, out_va = model(normalize_on_device(b["image"]))
                    rows.append(b["row"].numpy())
                    logits.append(out_expr.numpy())
                    va.append(out_va.numpy())
            model.train()
            rows, pred_expr, va = np.concatenate(rows), np.concatenate(logits).argmax(1), np.concatenate(va)
            truth = validation["expr"].to_numpy()[rows]  # "row" is the position in the table given
            v_truth = validation["valence"].to_numpy()[rows]
            a_truth = validation["arousal"].to_numpy()[rows]
            e_ok, v_ok = truth >= 0, v_truth > -5
            f1 = macro_f1(truth[e_ok], pred_expr[e_ok], EXPR_CLASSES)
            acc = accuracy(truth[e_ok], pred_expr[e_ok])
            return {"expr_criterion": round(float(expr_criterion(f1, acc)), 4), "expr_f1": round(float(f1), 4),
                    "expr_accuracy": round(float(acc), 4),
                    "valence_ccc": round(float(concordance_cc(va[v_ok, 0], v_truth[v_ok])), 4),
                    "arousal_ccc": round(float(concordance_cc(va[v_ok, 1], a_truth[v_ok])), 4),
                    "expr_confusion": confusion_matrix(truth[e_ok], pred_expr[e_ok], EXPR_CLASSES).tolist()}

        checkpoints = [round(steps * (k + 1) / evaluations) for k in range(evaluations)]
        trained, images, epoch, step, curve = 0.0, 0, 0, 0, []
        cpu_start = _cpu_seconds()
        wall_start = time.perf_counter()
        while checkpoints:
            loader.set_epoch(epoch)
            for b in loader:
                t = time.perf_counter()
                lr = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
                for group in optimiser.param_groups:
                    group["lr"] = lr
                x = normalize_on_device(b["image"])
                out_expr, out_va = model(x)
                loss = F.cross_entropy(out_expr, b["expr"], ignore_index=-1) if (b["expr"] >= 0).any() else 0.0
                ok = b["valence"] > -5
                if ok.sum() > 2:
                    truth = torch.stack([b["valence"][ok], b["arousal"][ok]], 1)
                    pred = out_va[ok]
                    loss = loss + _ccc_loss(pred[:, 0], truth[:, 0]) + _ccc_loss(pred[:, 1], truth[:, 1]) \
                        + F.mse_loss(pred, truth)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                trained += time.perf_counter() - t
                images += len(b["image"])
                step += 1
                if step >= checkpoints[0]:
                    scores = evaluate()
                    scores.update(step=step, train_s=round(trained, 1), images=images, epoch=epoch,
                                  wall_s=round(time.perf_counter() - wall_start, 1))
                    curve.append(scores)
                    log(f"  step {step} ({trained:.0f} s training), epoch {epoch}: "
                        f"{ {k: v for k, v in scores.items() if k != 'expr_confusion'} }")
                    checkpoints.pop(0)
                    if not checkpoints:
                        break
            epoch += 1
        wall = time.perf_counter() - wall_start
        del loader  # joins the workers, so their CPU time is counted below
        cpu = _cpu_seconds() - cpu_start
    record.update(curve=curve, final=curve[-1], epochs=epoch + 1, train_images=images,
                  images_per_s=round(images / max(wall, 1e-9), 1),
                  images_per_train_s=round(images / max(trained, 1e-9), 1),
                  cpu_cores_used=round(cpu / max(wall, 1e-9), 2), loadavg_start=list(load_start),
                  loadavg_end=list(os.getloadavg()), total_s=round(time.perf_counter() - started, 1))
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="an existing synthetic dataset (default: synthesize one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=500, help="training batches (of 64 images)")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    record = run_probe(args.root, args.seed, args.steps, workers=args.workers, threads=args.threads,
                       preset=args.preset)
    print(json.dumps({k: v for k, v in record.items() if k != "curve"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
