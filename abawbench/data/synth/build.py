"""``synthesize``: the sizes, the random streams, and writing the whole tree all or nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abawbench import atomic
from abawbench.data.synth.affwild2_writer import ambiguity_manifest, write_affwild2
from abawbench.data.synth.checks import shortcut_checks
from abawbench.data.synth.external_writers import write_affectnet, write_afew_va, write_expw
from abawbench.data.synth.faces import FACE_SIZE
from abawbench.data.synth.files import JPEG_QUALITY
from abawbench.data.synth.plan import plan_videos

SCHEMA = 2


@dataclass(frozen=True)
class SynthSize:
    """Aff-Wild2 videos and frames per video (about: ±1/6) of a size preset."""

    videos: int
    frames: int
    purpose: str


#: ``test``: the test suite's size (seconds); ``demo``: what ``abawbench demo`` and the
#: tiny baseline train on (≥ 10 validation videos per track, every class in validation);
#: ``large``: longer CPU runs.
SIZES = {
    "test": SynthSize(12, 120, "the test suite: every quirk, a few seconds"),
    "demo": SynthSize(72, 100, "the demo and the tiny baseline: 14 validation videos per track"),
    "large": SynthSize(240, 200, "longer CPU runs"),
}
MIN_VIDEOS = 6
MIN_FRAMES = 30


class TargetNotEmptyError(atomic.TargetNotEmpty, FileExistsError):
    """The output folder exists and holds something (``force`` replaces it), or is not a
    folder: :class:`abawbench.atomic.TargetNotEmpty` for the tree ``data synth`` writes."""


def external_sizes(videos: int, frames: int) -> dict:
    """Sizes of the external sets, scaled from the Aff-Wild2 size so tests stay small."""
    return {"expw_images": max(6, 2 * videos), "afew_va_clips": max(2, videos // 4),
            "afew_va_frames": max(12, frames // 4), "affectnet_training": max(12, 3 * videos),
            "affectnet_validation": max(8, videos)}


def is_synthetic(folder: Path) -> bool:
    """Whether ``folder`` holds a finished tree of :func:`synthesize` (its manifest says so)."""
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("generator") == "abawbench.data.synth"


def _check_target(out: Path, force: bool) -> None:
    if out.is_symlink():  # replacing it would replace the link, not the folder it names
        raise TargetNotEmptyError(f"{out} is a symbolic link; give the folder itself")
    try:
        atomic.check_new_folder(out, force)
    except atomic.TargetNotEmpty as problem:
        raise TargetNotEmptyError(str(problem)) from None


def synthesize(out: Path, videos: int | None = None, frames: int | None = None, seed: int = 0,
               progress: bool = False, preset: str = "test", force: bool = False) -> dict:
    """Write the synthetic Aff-Wild2 (ABAW2 and ABAW6 layouts), ExpW, AFEW-VA and
    AffectNet under ``out`` and return the manifest (also ``out/manifest.json``; schema
    in the package docstring).

    ``preset`` is a key of :data:`SIZES`; ``videos`` (>= 6) and ``frames`` (>= 30, about:
    ±1/6 per video) override it. The tree is built in a hidden sibling folder and renamed
    into place at the end, so an interrupted run leaves ``out`` as it was; ``out`` must
    not exist or be empty unless ``force``, which replaces it whole. The same arguments
    give byte-identical files.

    Raises ``ValueError`` for sizes or seeds out of range, :class:`TargetNotEmptyError`
    for an ``out`` that is in use.
    """
    if preset not in SIZES:
        raise ValueError(f"unknown size {preset!r}; known: {', '.join(SIZES)}")
    videos = SIZES[preset].videos if videos is None else int(videos)
    frames = SIZES[preset].frames if frames is None else int(frames)
    if videos < MIN_VIDEOS:
        raise ValueError(f"videos must be at least {MIN_VIDEOS} to plant every quirk, got {videos}")
    if frames < MIN_FRAMES:
        raise ValueError(f"frames must be at least {MIN_FRAMES}, got {frames}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    out = Path(out)
    _check_target(out, force)
    sizes = external_sizes(videos, frames)
    # Independent streams per part, so changing one part's size leaves the others alone.
    streams = np.random.SeedSequence(int(seed)).spawn(5)
    plan_stream, affwild2_rng, expw_rng, afew_rng, affectnet_rng = \
        streams[0], *(np.random.default_rng(s) for s in streams[1:])

    bar, task = None, None
    if progress:
        from rich.progress import Progress
        bar = Progress(transient=False)
        bar.start()
        task = bar.add_task(f"synthesizing ({preset})", total=videos + 3)

    def tick() -> None:
        if bar is not None:
            bar.advance(task)

    try:
        with atomic.staged_folder(out) as staging:
            plan = plan_videos(plan_stream, videos, frames)
            manifest = {"generator": "abawbench.data.synth", "schema": SCHEMA, "seed": int(seed),
                        "parameters": {"preset": preset, "videos": videos, "frames": frames, "size": FACE_SIZE,
                                       "jpeg_quality": JPEG_QUALITY, **sizes}}
            manifest.update(write_affwild2(staging, affwild2_rng, plan, FACE_SIZE, tick))
            from abawbench.data.synth_mtl import synthesize_mtl

            mtl = synthesize_mtl(staging / "affwild2_abaw6", staging / "mtl", seed=int(seed))
            manifest["mtl"] = {"root": "mtl", "manifest": "mtl/mtl_manifest.json",
                               "editions": sorted(mtl["editions"])}
            manifest["ambiguity"] = ambiguity_manifest(plan)
            manifest["checks"] = shortcut_checks(plan)
            manifest["expw"] = write_expw(staging, expw_rng, sizes["expw_images"])
            tick()
            manifest["afew_va"] = write_afew_va(staging, afew_rng, sizes["afew_va_clips"], sizes["afew_va_frames"])
            tick()
            manifest["affectnet"] = write_affectnet(staging, affectnet_rng, {
                "training": sizes["affectnet_training"], "validation": sizes["affectnet_validation"]})
            tick()
            # Last, so a tree without a manifest is never a finished one.
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    finally:
        if bar is not None:
            bar.stop()
    return manifest

