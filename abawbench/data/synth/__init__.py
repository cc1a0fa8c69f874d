"""Synthetic Aff-Wild2 + external databases in their exact on-disk layouts.

``synthesize(out, preset="test"|"demo"|"large")`` writes a dataset that every abawbench
reader, the demo, the tests and the tiny baseline can use without licensed data.

The package, one concept per module:

============================  ==========================================================
``faces``                     drawing a face: expression, valence and arousal each move
                              several anti-aliased features; identity and pose
``labels``                    valence/arousal walks, expression segments, action units
``effects``                   ambiguity events (occlusion, head turn, motion blur,
                              flash, expression flicker) and the setting (background,
                              side light, sensor noise)
``plan``                      the videos: names, splits, tracks, identities, labels,
                              planted quirks, events (nothing drawn: cheap at any size)
``checks``                    identity-shortcut measures recorded in the manifest
``affwild2_writer``           drawing the videos; both Aff-Wild2 layouts and their
                              manifest parts
``external_writers``          ExpW, AFEW-VA, AffectNet
``files``                     encoding pictures, spoiling some on purpose
``build``                     sizes, random streams, all-or-nothing writing
============================  ==========================================================

Training value. Each video's valence and arousal swing across most of [-1, 1] and
average near 0, and expression segments are dealt from one shuffled deck per split, so
who is in a video says nothing about its labels (an identity-only predictor scores
CCC ≈ 0; ``manifest["checks"]``). About 16 % of the frames are disturbed by short
ambiguity events while the labels go on smoothly, so neighbouring frames help
(``manifest["ambiguity"]``).

Written under ``out``::

    affwild2_abaw2/cropped_aligned/<video>/00001.jpg
    affwild2_abaw2/annotations/{EXPR_Set,VA_Set,AU_Set}/{Train_Set,Validation_Set}/<video>.txt
    affwild2_abaw6/cropped_aligned/<video>/00001.jpg            (same pictures)
    affwild2_abaw6/6th ABAW Annotations/{EXPR_Recognition_Challenge,VA_Estimation_Challenge,
                                         AU_Detection_Challenge}/{Train_Set,Validation_Set}/<video>.txt
    expw/label/label.lst, expw/image/origin/*.jpg
    afew_va/<clip>/00000.png …, afew_va/<clip>/<clip>.json
    affectnet/Manually_Annotated_file_lists/{training,validation}.csv
    affectnet/Manually_Annotated_Images/<subdir>/<file>.jpg
    mtl/...                                                     (MTL files of ABAW3/4/7 derived from
                                                                 affwild2_abaw6: abawbench.data.synth_mtl)
    manifest.json                                               (written last)

The synthetic videos carry 8 expression classes (Aff-Wild2 order plus 7 "Other"); the
ABAW2 files, whose header has 7 classes, write the "Other" frames as -1 as the 7-class
editions did, the ABAW6 files keep 7.

Planted quirks (each listed in the manifest): frames without a crop (single gaps and
one run), corrupt JPEGs in ``cropped_aligned`` (one truncated, one garbage when there
are 8+ videos), invalid runs (EXPR -1, VA -5,-5, AU -1 in every column), annotation
files one line longer than the video (the usual case), some a few lines longer or
shorter and one exact, ``_left``/``_right`` pairs, videos annotated for EXPR and VA
("shared") in both splits, videos with one track only, an unannotated (test) video
when there are 10+ videos; in the external sets one unreadable image each, ExpW
pictures with two faces, AffectNet rows of classes 7-10 and kept rows with VA -2.

Manifest schema (``manifest.json``, schema 2; all keys are strings, frames are 1-based)::

    {"generator": "abawbench.data.synth", "schema": 2, "seed": int,
     "parameters": {"preset": "test"|"demo"|"large", "videos", "frames", "size", "jpeg_quality",
                    "expw_images", "afew_va_clips", "afew_va_frames", "affectnet_training",
                    "affectnet_validation"},
     "affwild2_abaw2" | "affwild2_abaw6": {
        "root": "affwild2_abaw2", "edition": "abaw2" | "abaw6",
        "tracks": {"expr" | "va" | "au": {
            "folder": annotation folder relative to root, "header": str,
            "splits": {"train" | "validation": {
                "folder": str, "videos": [names],
                "annotation_lines": int,        # data lines (header excluded), summed
                "valid": int, "invalid": int,   # lines with a valid / the invalid label
                "valid_with_crop": int,         # valid lines whose crop file exists
                "valid_with_readable_crop": int}}}},   # ... and is not corrupt
        "videos": {name: {"split": "train"|"validation"|null, "tracks": [...],
                   "frames": int,               # real frames of the video
                   "crops_present": int,        # files in cropped_aligned/<video>/
                   "missing_crops": [int], "corrupt_crops": [int],
                   "annotation_lines": {track: int}}},
        "shared_videos": {"train": [...], "validation": [...]},
        "single_track_videos": [...], "unannotated_videos": [...],
        "left_right_pairs": [[left, right]],
        "count_mismatches": [{"video", "track", "annotation_lines", "frames"}],
        "other_as_invalid": int,         # ABAW2 only: EXPR lines of class Other written -1
        "totals": {"videos", "frames", "crops_present", "missing_crops", "corrupt_crops"}},
     "mtl": {"root": "mtl", "manifest": "mtl/mtl_manifest.json", "editions": [...]},
     "ambiguity": {"kinds": [kind], "frames": int,          # real frames of all videos
                   "affected_frames": int, "share": float, "frames_by_kind": {kind: int},
                   "events": int, "videos": {name: [{"kind", "first", "last"}]}},
     "checks": {"appearance": str,
                "va": {"train" | "validation": {"valence" | "arousal": {
                    "per_video_mean_ccc": float, "between_video_share": float,
                    "video_means": {"mean", "sd", "min", "max"}, "within_video_range": float}}},
                "expr": {"train" | "validation": {
                    "class_frames": {class: int}, "classes_per_video": {"min", "mean"},
                    "per_video_majority": {"f1", "accuracy", "criterion"}}}},
     "expw": {"root": "expw", "images": int, "faces": int, "rows": int,
              "two_face_images": [names], "corrupt_images": [names],
              "label_order": [...],
              "samples": [{"image", "face_id", "box": [top, left, right, bottom],
                           "label": ExpW label, "expr": Aff-Wild2 class drawn,
                           "valence", "arousal": drawn, "corrupt": bool}]},
     "afew_va": {"root": "afew_va", "clips": int, "frames": int, "image_size": [w, h],
                 "corrupt_frames": [[clip, key]],
                 "samples": {clip: {"actor", "keys": [...], "valence": [ints],
                                    "arousal": [ints], "expr": [drawn classes]}}},
     "affectnet": {"root": "affectnet", "label_order": [...],
                   "splits": {"training" | "validation": {
                       "rows": int, "kept": int, "dropped": {class: rows},
                       "invalid_va_kept": int, "corrupt_images": [paths],
                       "samples": [{"path": subDirectory_filePath, "line": int,
                                    "expression": AffectNet label, "expr": Aff-Wild2 class
                                    drawn or null (dropped), "valence", "arousal": as
                                    written (-2 = none), "valence_drawn", "arousal_drawn",
                                    "corrupt": bool}]}}}}
"""

from abawbench.data.synth.affwild2_writer import LAYOUTS, render_video
from abawbench.data.synth.build import (SIZES, SynthSize, TargetNotEmptyError, external_sizes, is_synthetic,
                                        synthesize)
from abawbench.data.synth.effects import EVENT_KINDS, Event, affected_mask, plan_events
from abawbench.data.synth.faces import (AU_PROTOTYPES, EXPRESSION_SHAPES, FACE_SIZE, ExpressionShape, Identity, Pose,
                                        add_noise, draw_face, draw_faces, face_geometry, face_landmarks, paint_face,
                                        random_identity, random_pose)
from abawbench.data.synth.files import JPEG_QUALITY
from abawbench.data.synth.labels import (ExpressionDeck, action_units, affect_to_expression, affect_walk,
                                         expression_segments, smooth_walk)
from abawbench.data.synth.plan import OTHER, SPLIT_FOLDERS, Video, plan_videos, video_names

__all__ = [
    "AU_PROTOTYPES", "EVENT_KINDS", "EXPRESSION_SHAPES", "Event", "ExpressionDeck", "ExpressionShape", "FACE_SIZE",
    "Identity", "JPEG_QUALITY", "LAYOUTS", "OTHER", "Pose", "SIZES", "SPLIT_FOLDERS", "SynthSize",
    "TargetNotEmptyError", "Video", "action_units", "add_noise", "affect_to_expression", "affect_walk",
    "affected_mask", "draw_face", "draw_faces", "expression_segments", "external_sizes", "face_geometry",
    "face_landmarks", "is_synthetic", "paint_face", "plan_events", "plan_videos", "random_identity", "random_pose",
    "render_video", "smooth_walk", "synthesize", "video_names",
]
