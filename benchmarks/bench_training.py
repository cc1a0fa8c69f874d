"""Training throughput of the paper baseline's CNN stage.

Run:  .venv/bin/python -m pytest benchmarks/bench_training.py -o python_files='bench_*.py'

For the paper preset's model (ResNet-50 at 112 px, random init) on this machine, one
teacher step at a time:

* real loader: the stage's own input path, :class:`MultiPartBatchSampler` over the three
  parts of a synthetic dataset → :func:`make_loader` (JPEG decoding, resize, crop, flip in
  workers) → split by part, normalised on the device → forward, loss, backward, Adam;
* pre-made tensors: the same steps on batches decoded, normalised and moved to the device
  beforehand (what the model alone can do).

The ratio real / pre-made is how much of the model's speed the input path keeps (target
≥ 90%). The tiny preset's images/s come with it. A ``gpu`` benchmark does the same on
CUDA with bf16 autocast and channels-last (skipped without a GPU). Results:
``.benchmarks/training.json``.
"""

from __future__ import annotations

import os
import time

import pytest
import torch

RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from abawbench.data.synth import synthesize

    out = tmp_path_factory.mktemp("bench_training")
    synthesize(out, videos=12, frames=120, seed=0)
    return out


def make_stage(root, preset: str, overrides: list[str]):
    """A cnn-teacher stage over ``root`` with ``preset`` + ``overrides``."""
    from abawbench.training import data as data_module
    from abawbench.training.cnn import CnnStage, TrainingData, concat_table
    from abawbench.training.config import resolve
    from abawbench.training.device import resolve_runtime, setup

    config = resolve(preset, overrides=overrides + ["runtime.progress=false"])
    config["runtime"] = resolve_runtime(config["runtime"])
    device = setup(config["runtime"])
    sources = data_module.resolve_sources(root, config)
    index = data_module.affwild2_index(sources)
    parts = data_module.training_parts(index, data_module.external_tables(sources, config), config)
    data = TrainingData(parts, concat_table(parts), config["cnn"]["steps_per_epoch"], index.iloc[:0], {},
                        sources.affwild2, sources.edition)
    torch.manual_seed(0)
    return CnnStage("cnn-teacher", config, data, device, 0, inference=None)


def _optimizer(stage):
    return torch.optim.Adam(stage.model.parameters(), lr=1e-4, betas=(0.5, 0.999))


def _step(stage, optimizer, module, images, sizes, labels) -> int:
    result = stage.compute(module, images, sizes, labels)
    optimizer.zero_grad(set_to_none=True)
    result.loss.backward()
    optimizer.step()
    return result.images


def _sync(stage) -> None:
    if stage.device.cuda:
        torch.cuda.synchronize()


def measure(stage, rounds: int) -> dict:
    """Best-round images/s through the real loader and on pre-made tensors."""
    module, optimizer = stage.forward_module(), _optimizer(stage)
    stage.model.train()
    loader = stage.train_loader()
    premade = [stage.prepare(batch) for batch in loader]  # decoded, normalised, on the device
    for images, sizes, labels in premade[:2]:  # warm-up: allocator, oneDNN/cuDNN plans
        _step(stage, optimizer, module, images, sizes, labels)
    best = {"real": 0.0, "premade": 0.0}
    for _ in range(rounds):
        _sync(stage)
        start, count = time.perf_counter(), 0
        for batch in loader:
            count += _step(stage, optimizer, module, *stage.prepare(batch))
        _sync(stage)
        best["real"] = max(best["real"], count / (time.perf_counter() - start))
        start, count = time.perf_counter(), 0
        for images, sizes, labels in premade:
            count += _step(stage, optimizer, module, images, sizes, labels)
        _sync(stage)
        best["premade"] = max(best["premade"], count / (time.perf_counter() - start))
    best["ratio"] = best["real"] / best["premade"]
    best["images_per_step"] = sum(premade[0][1])
    best["steps"] = len(premade)
    return best


pytestmark = pytest.mark.usefixtures("restore_torch_globals")


def test_paper_model_real_loader_vs_premade_tensors(benchmark, synthetic):
    # 16 per part on a CPU (64 on a GPU); one decoding worker beside one training thread
    # (on a small shared CPU, a second OpenMP thread spin-waiting costs more than it gives)
    stage = make_stage(synthetic, "paper", ["cnn.batch_per_task=16", "cnn.steps_per_epoch=3", "runtime.workers=1",
                                            "runtime.threads=1", "runtime.device=cpu"])
    result = benchmark.pedantic(measure, args=(stage, 2), rounds=1, iterations=1)
    RESULTS["paper (resnet50, 112 px), cpu"] = result
    benchmark.extra_info.update(result)


def test_tiny_preset(benchmark, synthetic):
    stage = make_stage(synthetic, "tiny", ["cnn.steps_per_epoch=10", "runtime.device=cpu"])
    result = benchmark.pedantic(measure, args=(stage, 2), rounds=1, iterations=1)
    RESULTS["tiny (slim resnet10t, 64 px), cpu"] = result
    benchmark.extra_info.update(result)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_paper_model_on_cuda_bf16_channels_last(benchmark, synthetic):
    stage = make_stage(synthetic, "paper", ["cnn.steps_per_epoch=30", "runtime.device=cuda", "runtime.amp=bf16",
                                            "runtime.channels_last=on", f"runtime.workers={min(8, os.cpu_count())}"])
    result = benchmark.pedantic(measure, args=(stage, 3), rounds=1, iterations=1)
    RESULTS[f"paper (resnet50, 112 px), {torch.cuda.get_device_name()} bf16 channels-last"] = result
    benchmark.extra_info.update(result)


@pytest.fixture(scope="module", autouse=True)
def report(publish):
    yield
    if not RESULTS:
        return
    rows = [[name, f"{r['images_per_step']}", f"{r['real']:,.1f}", f"{r['premade']:,.1f}", f"{r['ratio']:.0%}"]
            for name, r in RESULTS.items()]
    publish(f"training images/s, one cnn-teacher step = 3 parts (best of rounds; {os.cpu_count()} CPUs)",
            ["model", "images/step", "real loader", "pre-made tensors", "real / pre-made"], rows, "training",
            {"cpus": os.cpu_count(), "results": RESULTS})
