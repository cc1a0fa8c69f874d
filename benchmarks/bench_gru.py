"""Training throughput of the GRU stages: cached features against online features.

Run:  .venv/bin/python -m pytest benchmarks/bench_gru.py -o python_files='bench_*.py'

One ``gru-teacher`` step at a time (the stage's own loader, loss, backward, Adam), tiny
preset, on the test-size synthetic data:

* cached (abawbench's default): windows of the run's feature cache
  (:class:`~abawbench.data.sequences.FeatureSequenceDataset`), one cached view per window;
* online (the authors' code, ``gru.features = "online"``): the same windows as images,
  decoded and augmented, through the frozen CNN student on every step.

Frames per second of training and the ratio cached / online, the naive baseline being
the authors' way. Results: ``.benchmarks/gru.json``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

RESULTS: dict[str, dict] = {}
STEPS = 6


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """(config, device, GruData, frozen CNN) over a test-size synthetic dataset, with a
    feature cache of random values (the step's cost does not depend on them)."""
    from abawbench.data import affwild2
    from abawbench.data.synth import synthesize
    from abawbench.training.cnn import build_model
    from abawbench.training.config import resolve
    from abawbench.training.device import resolve_runtime, setup
    from abawbench.training.gru import build_gru_data
    from abawbench.predict import validation_lengths

    out = tmp_path_factory.mktemp("bench_gru")
    synthesize(out, videos=12, frames=120, seed=0)
    config = resolve("tiny", overrides=["runtime.progress=false", "runtime.device=cpu",
                                        f"gru.steps_per_epoch={STEPS}"])
    config["runtime"] = resolve_runtime(config["runtime"])
    device = setup(config["runtime"])
    root = out / "affwild2_abaw2"
    index = affwild2.index(root, cache=False)
    views = 1 + config["gru"]["augmented_views"]
    features = np.random.default_rng(0).standard_normal(
        (views, len(index), 2, config["model"]["head_hidden"])).astype(np.float16)
    data = build_gru_data(index, features, validation_lengths(root, "abaw2"), root, "abaw2", config)
    torch.manual_seed(0)
    cnn, _ = build_model(config)
    return config, device, data, cnn.eval()


def measure(stage, rounds: int = 2) -> dict:
    """Best-round training frames/s over ``STEPS`` steps, the loader included."""
    optimizer = torch.optim.Adam(stage.model.parameters(), lr=1e-4, betas=(0.5, 0.999))
    module = stage.forward_module()
    loader = stage.train_loader()
    best = 0.0
    for epoch in range(rounds + 1):  # the first pass warms the allocator and the workers
        loader.set_position(epoch, 0)
        start, frames = time.perf_counter(), 0
        for batch in loader:
            result = stage.train_step(module, batch)
            optimizer.zero_grad(set_to_none=True)
            result.loss.backward()
            optimizer.step()
            frames += result.images
        if epoch:
            best = max(best, frames / (time.perf_counter() - start))
    return {"frames_per_s": best, "frames_per_step": frames // STEPS}


pytestmark = pytest.mark.usefixtures("restore_torch_globals")


def test_cached_against_online_features(benchmark, setting):
    from abawbench.training.gru import GruStage

    config, device, data, cnn = setting
    cached = GruStage("gru-teacher", config, data, device, seed=0)
    online_config = {**config, "gru": {**config["gru"], "features": "online"}}
    online = GruStage("gru-teacher", online_config, data, device, seed=0, cnn=cnn)

    def both():
        return {"cached": measure(cached), "online": measure(online)}

    result = benchmark.pedantic(both, rounds=1, iterations=1)
    result["ratio"] = result["cached"]["frames_per_s"] / result["online"]["frames_per_s"]
    RESULTS["tiny preset, gru-teacher"] = result
    benchmark.extra_info.update(result)


@pytest.fixture(scope="module", autouse=True)
def report(publish):
    yield
    if not RESULTS:
        return
    rows = [[name, f"{r['cached']['frames_per_step']}", f"{r['cached']['frames_per_s']:,.0f}",
             f"{r['online']['frames_per_s']:,.0f}", f"{r['ratio']:.1f}×"] for name, r in RESULTS.items()]
    publish(f"GRU training frames/s, cached features against online (best of rounds; {os.cpu_count()} CPUs)",
            ["stage", "frames/step", "cached", "online (authors')", "cached / online"], rows, "gru",
            {"cpus": os.cpu_count(), "results": RESULTS})
