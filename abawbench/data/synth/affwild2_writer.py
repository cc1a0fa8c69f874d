"""Drawing the planned Aff-Wild2 videos and writing them in both layouts (ABAW2's
``annotations/…_Set`` and the 6th ABAW's ``6th ABAW Annotations/…_Challenge``), with
their part of the manifest."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from abawbench.data.synth.effects import (EVENT_KINDS, NoiseBank, background_canvas, effect_tracks, light_map,
                                          motion_blur, paint_occluder)
from abawbench.data.synth.faces import FACE_SIZE, SUPERSAMPLE, face_geometry, paint_geometry
from abawbench.data.synth.files import corrupt_bytes, encode
from abawbench.data.synth.labels import smooth_walk
from abawbench.data.synth.plan import SPLIT_FOLDERS, Video, expr_lines
from abawbench.tracks import AU_NAMES_12, EXPR_CLASSES_7, EXPR_CLASSES_8, VA_COLUMNS

LAYOUTS = {
    "affwild2_abaw2": {"edition": "abaw2", "classes": EXPR_CLASSES_7, "folders": {
        "expr": "annotations/EXPR_Set", "va": "annotations/VA_Set", "au": "annotations/AU_Set"}},
    "affwild2_abaw6": {"edition": "abaw6", "classes": EXPR_CLASSES_8, "folders": {
        "expr": "6th ABAW Annotations/EXPR_Recognition_Challenge",
        "va": "6th ABAW Annotations/VA_Estimation_Challenge",
        "au": "6th ABAW Annotations/AU_Detection_Challenge"}},
}
_KIND = {kind: i + 1 for i, kind in enumerate(EVENT_KINDS)}


def drawn_sequences(video: Video, rng: np.random.Generator) -> dict:
    """What each frame of ``video`` shows, (frames,) arrays: the expression, valence and
    arousal drawn (the labels, except under a flicker event), the head pose (a smooth
    drift, a little shake, and head-turn events), and the event strengths per kind."""
    n = video.frames
    tracks = effect_tracks(video.events, n)
    drift = np.column_stack([smooth_walk(rng, n, 0.02) * 0.03 for _ in range(3)])
    shake = rng.normal(0, 0.004, (n, 2))
    out = {
        "expr": video.expr[:n].copy(), "valence": video.valence[:n].astype(np.float64),
        "arousal": video.arousal[:n].astype(np.float64),
        "pose": {"dx": drift[:, 0] + shake[:, 0], "dy": drift[:, 1] + shake[:, 1], "scale": 1 + drift[:, 2],
                 "roll": smooth_walk(rng, n, 0.02) * 4.0, "yaw": np.zeros(n)},
        "kind": tracks.kind, "strength": tracks.strength, "event": tracks.event,
    }
    for e in video.events:
        frames = slice(e.first, e.first + e.length)
        strength = tracks.strength[frames]
        if e.kind == "flicker":
            out["expr"][frames] = e.params["expr"]
            out["valence"][frames] = e.params["valence"]
            out["arousal"][frames] = e.params["arousal"]
        elif e.kind == "head_turn":
            out["pose"]["yaw"][frames] = strength * e.params["yaw"]
            out["pose"]["roll"][frames] += strength * e.params["roll"]
            out["pose"]["dx"][frames] += 0.06 * strength * e.params["yaw"]
    return out


def render_video(video: Video, size: int = FACE_SIZE) -> Iterator[tuple[int, Image.Image]]:
    """``(frame number, size × size RGB crop)`` for every frame of ``video`` that has a
    crop, drawn from the video's own stream (``video.render_seed``)."""
    pose_rng, setting_rng, noise_rng = (np.random.default_rng(s)
                                        for s in np.random.SeedSequence(video.render_seed).spawn(3))
    seq = drawn_sequences(video, pose_rng)
    big = size * SUPERSAMPLE
    g = face_geometry(seq["expr"], seq["valence"], seq["arousal"], video.identity, seq["pose"], big)
    background = background_canvas(video.identity, setting_rng, big)
    light = light_map(video.identity, size)
    noise = NoiseBank(noise_rng, size)
    missing = set(video.missing)
    for i in range(video.frames):
        if i + 1 in missing:
            continue
        canvas = background.copy()
        draw = ImageDraw.Draw(canvas)
        paint_geometry(draw, g, i, video.identity)
        kind, strength = int(seq["kind"][i]), float(seq["strength"][i])
        params = video.events[seq["event"][i]].params if kind else {}
        if kind == _KIND["occlusion"]:
            paint_occluder(draw, params, strength, g["centre"][i], float(g["scale"][i]), video.identity,
                           video.identity.eye_spacing)
        pixels = np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float32) * light
        if kind == _KIND["flash"]:
            pixels = pixels * (1 + strength * (params["gain"] - 1)) + strength * params["lift"]
        elif kind == _KIND["motion_blur"]:
            pixels = motion_blur(pixels, strength * params["pixels"], params["angle"])
        pixels += noise.sample()
        yield i + 1, Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def _same_file(source: Path, target: Path, data: bytes) -> None:
    """``target`` with the bytes of ``source``: a hard link where the file system has
    them (creating files is the slowest step of writing on some), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        target.write_bytes(data)


def annotation_text(video: Video, track: str, classes: tuple[str, ...]) -> str:
    """The annotation file of ``video`` for ``track`` (header line, one line per frame)."""
    n = video.lines
    if track == "expr":
        values, _ = expr_lines(video, classes)
        body = [str(int(v)) for v in values]
        header = ",".join(classes)
    elif track == "va":
        mask = video.invalid["va"]
        body = ["-5,-5" if bad else f"{v:.3f},{a:.3f}"
                for v, a, bad in zip(video.valence[:n], video.arousal[:n], mask)]
        header = ",".join(VA_COLUMNS)
    else:
        au = video.au[:n].copy()
        au[video.invalid["au"]] = -1
        body = [",".join(map(str, row)) for row in au.tolist()]
        header = ",".join(AU_NAMES_12)
    return header + "\n" + "\n".join(body) + "\n"


def write_affwild2(out: Path, rng: np.random.Generator, videos: list[Video], size: int,
                   tick: Callable[[], None]) -> dict:
    """Write the crops (the same bytes in both layouts) and annotation files of
    ``videos`` under ``out``; return the manifest parts of both layouts."""
    crop_roots = [out / layout / "cropped_aligned" for layout in LAYOUTS]
    for video in videos:
        folders = [root / video.name for root in crop_roots]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for k, image in render_video(video, size):
            data = encode(image)
            if k in video.corrupt:
                data = corrupt_bytes(rng, data, video.corrupt[k])
            first = folders[0] / f"{k:05d}.jpg"
            first.write_bytes(data)
            for folder in folders[1:]:
                _same_file(first, folder / first.name, data)
        tick()

    manifests = {}
    for layout, spec in LAYOUTS.items():
        root = out / layout
        tracks_manifest = {}
        other_total = 0
        for track, folder in spec["folders"].items():
            splits = {}
            for split, split_folder in SPLIT_FOLDERS.items():
                target = root / folder / split_folder
                target.mkdir(parents=True, exist_ok=True)
                members = [v for v in videos if v.split == split and track in v.tracks]
                stats = {"folder": f"{folder}/{split_folder}", "videos": [v.name for v in members],
                         "annotation_lines": 0, "valid": 0, "invalid": 0,
                         "valid_with_crop": 0, "valid_with_readable_crop": 0}
                for video in members:
                    (target / f"{video.name}.txt").write_text(annotation_text(video, track, spec["classes"]),
                                                              encoding="utf-8", newline="\n")
                    if track == "expr":
                        values, other = expr_lines(video, spec["classes"])
                        valid = values >= 0
                        other_total += other
                    else:
                        valid = ~video.invalid[track]
                    frame_numbers = np.arange(1, video.lines + 1)
                    has_crop = (frame_numbers <= video.frames) & ~np.isin(frame_numbers, video.missing)
                    readable = has_crop & ~np.isin(frame_numbers, list(video.corrupt))
                    stats["annotation_lines"] += video.lines
                    stats["valid"] += int(valid.sum())
                    stats["invalid"] += int((~valid).sum())
                    stats["valid_with_crop"] += int((valid & has_crop).sum())
                    stats["valid_with_readable_crop"] += int((valid & readable).sum())
                splits[split] = stats
            header = ",".join(spec["classes"]) if track == "expr" else \
                ",".join(VA_COLUMNS) if track == "va" else ",".join(AU_NAMES_12)
            tracks_manifest[track] = {"folder": folder, "header": header, "splits": splits}
        manifests[layout] = layout_manifest(layout, spec["edition"], videos, tracks_manifest,
                                            other_total if spec["classes"] == EXPR_CLASSES_7 else 0)
    return manifests


def layout_manifest(layout: str, edition: str, videos: list[Video], tracks: dict, other: int) -> dict:
    """One layout's manifest part (schema in the package docstring)."""
    per_video = {}
    mismatches = []
    for v in videos:
        per_video[v.name] = {
            "split": v.split, "tracks": list(v.tracks), "frames": v.frames,
            "crops_present": v.frames - len(v.missing), "missing_crops": list(v.missing),
            "corrupt_crops": sorted(v.corrupt), "annotation_lines": {t: v.lines for t in v.tracks},
        }
        mismatches += [{"video": v.name, "track": t, "annotation_lines": v.lines, "frames": v.frames}
                       for t in v.tracks if v.lines != v.frames]
    names = {v.name for v in videos}
    pairs = sorted([n, n[:-5] + "_right"] for n in names if n.endswith("_left") and n[:-5] + "_right" in names)
    return {
        "root": layout, "edition": edition, "tracks": tracks, "videos": per_video,
        "shared_videos": {s: [v.name for v in videos if v.split == s and {"expr", "va"} <= set(v.tracks)]
                          for s in SPLIT_FOLDERS},
        "single_track_videos": [v.name for v in videos if len(v.tracks) == 1],
        "unannotated_videos": [v.name for v in videos if not v.tracks],
        "left_right_pairs": pairs,
        "count_mismatches": mismatches,
        "other_as_invalid": other,
        "totals": {"videos": len(videos), "frames": sum(v.frames for v in videos),
                   "crops_present": sum(v.frames - len(v.missing) for v in videos),
                   "missing_crops": sum(len(v.missing) for v in videos),
                   "corrupt_crops": sum(len(v.corrupt) for v in videos)},
    }


def ambiguity_manifest(videos: list[Video]) -> dict:
    """The manifest's ``ambiguity`` part: events per video and the share of frames they
    cover (of all real frames of all videos)."""
    frames = sum(v.frames for v in videos)
    by_kind = {kind: 0 for kind in EVENT_KINDS}
    for v in videos:
        for e in v.events:
            by_kind[e.kind] += e.length
    affected = sum(by_kind.values())
    return {
        "kinds": list(EVENT_KINDS), "frames": frames, "affected_frames": affected,
        "share": round(affected / frames, 4), "frames_by_kind": by_kind,
        "events": sum(len(v.events) for v in videos),
        "videos": {v.name: [e.as_manifest() for e in v.events] for v in videos},
    }
