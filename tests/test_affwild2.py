"""Aff-Wild2 indexing, splits and `data check`, against the synthetic_data data's manifest."""

import json
import os
import time

import numpy as np
import pytest
from click.testing import CliRunner

from abawbench.cli import main
from abawbench.data import affwild2


@pytest.mark.parametrize("layout", ["affwild2_abaw2", "affwild2_abaw6"])
def test_check_reports_exactly_the_manifest(synthetic_data, layout):
    out, manifest = synthetic_data
    planted = manifest[layout]
    report = affwild2.check(out / layout)
    assert report["edition"] == ("abaw2" if layout.endswith("abaw2") else "abaw3+")
    for track, entry in planted["tracks"].items():
        for split, expected in entry["splits"].items():
            found = report["tracks"][track][split]
            assert found["videos"] == len(expected["videos"])
            for key in ("annotation_lines", "valid", "invalid", "valid_with_crop"):
                assert found[key] == expected[key], (track, split, key)
    assert report["crops"]["files"] == planted["totals"]["crops_present"]
    assert report["crops"]["missing"] == planted["totals"]["missing_crops"]
    assert {v: f for v, f in report["crops"]["missing_by_video"].items()} == {
        v: e["missing_crops"] for v, e in planted["videos"].items() if e["missing_crops"]}
    corrupt = sorted(f"cropped_aligned/{v}/{f:05d}.jpg" for v, e in planted["videos"].items() for f in e["corrupt_crops"])
    assert report["crops"]["unreadable"] == corrupt
    assert report["shared_videos"] == {s: sorted(v) for s, v in planted["shared_videos"].items()}
    assert report["left_right_pairs"] == sorted(planted["left_right_pairs"])
    expected_mismatches = sorted((m["video"], m["track"], m["annotation_lines"]) for m in planted["count_mismatches"])
    assert sorted((m["video"], m["track"], m["annotation_lines"]) for m in report["count_mismatches"]) == expected_mismatches
    assert report["videos"]["unannotated"] == sorted(planted["unannotated_videos"])


def test_index_rows_labels_and_quirks(synthetic_data):
    out, manifest = synthetic_data
    root = out / "affwild2_abaw2"
    table = affwild2.index(root, cache=False)
    planted = manifest["affwild2_abaw2"]
    for video, entry in planted["videos"].items():
        rows = table[table["video"] == video]
        assert rows["frame"].tolist() == list(range(1, len(rows) + 1))
        # no crop: the planted gaps, and the annotation lines past the video's last frame
        without_crop = set(entry["missing_crops"]) | set(range(entry["frames"] + 1, len(rows) + 1))
        assert set(rows.loc[~rows["has_crop"], "frame"]) == without_crop, video
        assert rows.loc[rows["frame"] == 1, "path"].item() == f"cropped_aligned/{video}/00001.jpg"
    # the label of line k is the label of frame k: every VA line, read here by hand
    for video, entry in planted["videos"].items():
        if "va" not in entry["tracks"]:
            continue
        folder = "Train_Set" if entry["split"] == "train" else "Validation_Set"
        lines = (root / "annotations" / "VA_Set" / folder / f"{video}.txt").read_text().splitlines()[1:]
        pairs = np.array([[float(x) for x in line.split(",")] for line in lines])
        rows = table[table["video"] == video].iloc[: len(pairs)]
        invalid = (pairs == -5).any(axis=1)
        assert (rows["valence"].to_numpy()[invalid] == -5).all() and (rows["arousal"].to_numpy()[invalid] == -5).all()
        assert rows["valence"].to_numpy()[~invalid] == pytest.approx(pairs[~invalid, 0], abs=1e-6)
        assert rows["arousal"].to_numpy()[~invalid] == pytest.approx(pairs[~invalid, 1], abs=1e-6)
    shared = set(table[table["shared"]]["video"].unique().tolist())
    assert shared == set(planted["shared_videos"]["train"]) | set(planted["shared_videos"]["validation"])
    assert table["expr"].dtype == np.int8 and table["valence"].dtype == np.float32


def write_annotations(root, track, split_folder, files):
    """Hand-written annotation files: ``files[video]`` is a list of data lines."""
    headers = {"expr": "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise", "va": "valence,arousal",
               "au": "AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26"}
    folder = root / "annotations" / f"{track.upper()}_Set" / split_folder
    folder.mkdir(parents=True, exist_ok=True)
    for video, lines in files.items():
        (folder / f"{video}.txt").write_text("\n".join([headers[track]] + lines) + "\n")


def write_crops(root, video, frames):
    folder = root / "cropped_aligned" / video
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        (folder / f"{frame:05d}.jpg").write_bytes(b"\xff\xd8 a stand-in JPEG \xff\xd9")


def test_minus_five_in_one_va_column_invalidates_the_whole_frame(tmp_path):
    write_annotations(tmp_path, "va", "Train_Set", {"v": ["0.2,-5", "-5,0.3", "0.4,0.5", "-5,-5", "-1,1"]})
    table = affwild2.build_index(tmp_path)
    assert table["valence"].tolist() == [-5, -5, pytest.approx(0.4), -5, -1]
    assert table["arousal"].tolist() == [-5, -5, pytest.approx(0.5), -5, 1]
    assert affwild2.has_label(table, "va").tolist() == [False, False, True, False, True]
    assert affwild2.frames_of(table, "va", with_crop=False)["frame"].tolist() == [3, 5]


def test_minus_one_in_one_au_column_invalidates_the_whole_frame(tmp_path):
    write_annotations(tmp_path, "au", "Train_Set", {"v": ["1,0,0,0,0,0,0,0,0,0,0,-1", ",".join(["0"] * 12),
                                                          "-1," + ",".join(["1"] * 11)]})
    table = affwild2.build_index(tmp_path)
    assert affwild2.has_label(table, "au").tolist() == [False, True, False]
    assert (table.iloc[0][[f"AU{n}" for n in (1, 2, 26)]] == -1).all()


def test_check_counts_the_usual_extra_line_apart_from_problems(tmp_path):
    write_crops(tmp_path, "usual", range(1, 6))
    write_crops(tmp_path, "longer", range(1, 6))
    write_annotations(tmp_path, "expr", "Train_Set", {"usual": ["0"] * 6, "longer": ["1"] * 8})
    report = affwild2.check(tmp_path)
    differences = {(m["video"], m["difference"]) for m in report["count_mismatches"]}
    assert differences == {("usual", 1), ("longer", 3)}
    assert report["problems"] == 1  # only the 8-line file: 6 lines for 5 crops is the organisers' count
    write_crops(tmp_path, "usual", [7])  # a gap at frame 6, and now 6 lines for a last crop of 7
    report = affwild2.check(tmp_path)
    assert report["crops"]["missing_by_video"] == {"usual": [6]}
    assert report["problems"] == 1 + 1 + 1  # the gap, the 6-for-7 file, the 8-for-5 file


def test_check_problem_total_is_the_manifests(synthetic_data):
    out, manifest = synthetic_data
    for layout in ("affwild2_abaw2", "affwild2_abaw6"):
        planted = manifest[layout]
        unusual = 0
        for video, entry in planted["videos"].items():
            present = [f for f in range(1, entry["frames"] + 1) if f not in set(entry["missing_crops"])]
            unusual += sum(1 for lines in entry["annotation_lines"].values() if lines - present[-1] != 1
                           and lines != present[-1])
        expected = planted["totals"]["missing_crops"] + planted["totals"]["corrupt_crops"] + unusual
        assert affwild2.check(out / layout)["problems"] == expected, layout


def test_index_cache_is_used_and_rebuilt_when_annotations_change(synthetic_data, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(synthetic_data[0] / "affwild2_abaw2" / "annotations", root / "annotations")
    from abawbench import cache

    listing = sorted(p.relative_to(root) for p in root.rglob("*"))
    first = affwild2.index(root)
    assert cache.path_for("index", (str(root.resolve()), "", str(root))).is_file()
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == listing  # the dataset is only read
    again = affwild2.index(root)
    assert again.equals(first)
    assert again.attrs == first.attrs and list(again.dtypes) == list(first.dtypes)
    some_file = sorted((root / "annotations" / "EXPR_Set" / "Train_Set").glob("*.txt"))[0]
    lines = some_file.read_text().splitlines()
    lines[1] = "6" if lines[1] != "6" else "5"
    some_file.write_text("\n".join(lines) + "\n")
    stat = some_file.stat()
    os.utime(some_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rebuilt = affwild2.index(root)
    row = rebuilt[(rebuilt["video"] == some_file.stem) & (rebuilt["frame"] == 1)]
    assert int(row["expr"].item()) == int(lines[1])


def test_holdout_is_video_disjoint_keeps_subjects_together_and_is_deterministic(synthetic_data):
    out, _ = synthetic_data
    table = affwild2.index(out / "affwild2_abaw2", cache=False)
    train, dev = affwild2.holdout_split(table, "expr", fraction=0.3, seed=1)
    assert train and dev and not set(train) & set(dev)
    assert set(train) | set(dev) == set(affwild2.official_split(table, "expr", "train"))
    for video in dev:
        if video.endswith(("_left", "_right")):
            partner = affwild2.subject_group(video) + ("_right" if video.endswith("_left") else "_left")
            assert partner not in train
    assert affwild2.holdout_split(table, "expr", fraction=0.3, seed=1) == (train, dev)


def test_holdout_keeps_left_and_right_together_for_every_seed():
    import pandas as pd

    rng = np.random.default_rng(1)
    names = [f"{i}-30-640x480" for i in range(12)]
    names += [f"{p}-60-1280x720_{side}" for p in range(5) for side in ("left", "right")]
    rows = [pd.DataFrame({"video": name, "frame": np.arange(1, 61), "expr": rng.integers(0, 7, 60).astype(np.int8),
                          "has_crop": True, "split_expr": "train"}) for name in names]
    table = pd.concat(rows, ignore_index=True)
    for seed in range(50):
        train, dev = affwild2.holdout_split(table, "expr", fraction=0.3, seed=seed)
        assert set(train) | set(dev) == set(names) and not set(train) & set(dev)
        for pair in range(5):
            left, right = f"{pair}-60-1280x720_left", f"{pair}-60-1280x720_right"
            assert (left in dev) == (right in dev), (seed, pair)
    assert affwild2.subject_group("10-60-1280x720_left") == affwild2.subject_group("10-60-1280x720_right")
    assert affwild2.subject_group("video10_1") == "video10_1"


def test_holdout_label_distribution_beats_most_random_picks():
    """The greedy search against 300 random video-disjoint hold-outs of the same size: its
    label distribution must be closer (L1) to the whole train set's than a clear majority."""
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = []
    for v in range(40):
        labels = rng.choice(7, size=200, p=np.roll([0.4, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05], v % 7))
        rows.append(pd.DataFrame({"video": f"v{v}", "frame": np.arange(1, 201), "expr": labels.astype(np.int8),
                                  "has_crop": True, "split_expr": "train"}))
    table = pd.concat(rows, ignore_index=True)
    counts = np.stack([np.bincount(table.loc[table["video"] == f"v{v}", "expr"], minlength=7) for v in range(40)])
    overall = counts.sum(axis=0) / counts.sum()

    def gap(videos):
        picked = counts[[int(v[1:]) for v in videos]].sum(axis=0)
        return np.abs(picked / picked.sum() - overall).sum()

    train, dev = affwild2.holdout_split(table, "expr", fraction=0.2, seed=0)
    random_gaps = np.array([gap([f"v{i}" for i in rng.permutation(40)[: len(dev)]]) for _ in range(300)])
    beaten = (gap(dev) < random_gaps).mean()
    assert len(dev) == 8  # 20% of 40 equal-sized videos
    assert beaten > 0.9, beaten


def test_joint_holdout_keeps_both_tracks_distributions_better_than_most_random_picks():
    """A multi-task (EXPR + VA) hold-out against 300 random hold-outs of the same videos:
    the mean of its two L1 gaps (EXPR classes; VA on a 4×4 grid of [-1, 1]², binned here
    with ``np.histogram2d``) must be smaller than a clear majority of theirs."""
    import pandas as pd

    rng = np.random.default_rng(3)
    rows = []
    for v in range(40):
        expr = rng.choice(7, size=200, p=np.roll([0.4, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05], v % 7))
        centre = rng.uniform(-0.8, 0.8, 2)
        va = np.clip(centre + rng.normal(0, 0.2, (200, 2)), -1, 1).round(3)
        rows.append(pd.DataFrame({"video": f"v{v}", "frame": np.arange(1, 201), "expr": expr.astype(np.int8),
                                  "valence": va[:, 0], "arousal": va[:, 1], "has_crop": True,
                                  "split_expr": "train", "split_va": "train"}))
    table = pd.concat(rows, ignore_index=True)
    by_video = {v: table[table["video"] == f"v{v}"] for v in range(40)}
    edges = [-1, -0.5, 0, 0.5, 1]
    expr_counts = np.stack([np.bincount(by_video[v]["expr"], minlength=7) for v in range(40)])
    va_counts = np.stack([np.histogram2d(by_video[v]["valence"], by_video[v]["arousal"], [edges, edges])[0].ravel()
                          for v in range(40)])

    def gap(videos):
        picked = [int(name[1:]) for name in videos]
        gaps = []
        for counts in (expr_counts, va_counts):
            mine, everyone = counts[picked].sum(axis=0), counts.sum(axis=0)
            gaps.append(np.abs(mine / mine.sum() - everyone / everyone.sum()).sum())
        return np.mean(gaps)

    train, dev = affwild2.holdout_split(table, ("expr", "va"), fraction=0.2, seed=0)
    assert len(dev) == 8 and sorted(train + dev, key=lambda name: int(name[1:])) == [f"v{v}" for v in range(40)]
    random_gaps = np.array([gap([f"v{i}" for i in rng.permutation(40)[:8]]) for _ in range(300)])
    beaten = (gap(dev) < random_gaps).mean()
    assert beaten > 0.9, beaten


def test_splits_round_trip_as_plain_lists(tmp_path):
    path = tmp_path / "dev.txt"
    affwild2.write_split(path, ["a-30-640x480", "video10_1"])
    assert path.read_text() == "a-30-640x480\nvideo10_1\n"
    assert affwild2.read_split(path) == ["a-30-640x480", "video10_1"]


def test_shared_frames_carry_both_labels(synthetic_data):
    table = affwild2.index(synthetic_data[0] / "affwild2_abaw2", cache=False)
    frames = affwild2.shared_frames(table, "train")
    assert len(frames) > 0
    assert (frames["expr"] >= 0).all() and (frames["valence"] != -5).all()
    assert set(frames["video"].unique()) <= set(affwild2.shared_videos(table, "train"))


def test_data_check_cli_writes_json(synthetic_data, tmp_path):
    out = tmp_path / "check.json"
    result = CliRunner().invoke(main, ["data", "check", str(synthetic_data[0] / "affwild2_abaw6"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["crops"]["missing"] == synthetic_data[1]["affwild2_abaw6"]["totals"]["missing_crops"]
    assert "problems" in result.output


def test_unknown_header_is_reported(tmp_path):
    folder = tmp_path / "annotations" / "Weird_Set" / "Train_Set"
    folder.mkdir(parents=True)
    (folder / "v.txt").write_text("happy,sad\n1,0\n")
    assert affwild2.check(tmp_path)["unknown_headers"] == ["annotations/Weird_Set/Train_Set/v.txt"]


def test_index_is_fast_enough_to_build_in_seconds(tmp_path):
    """A 200k-frame annotation tree (no crops) builds well under a second per 100k frames."""
    from abawbench import formats
    from abawbench.tracks import track_spec

    spec = track_spec("abaw2", "va")
    values = {f"{i}-30-640x480": np.round(np.random.default_rng(i).uniform(-1, 1, (2000, 2)), 3) for i in range(100)}
    formats.write_per_video(tmp_path / "annotations" / "VA_Set" / "Train_Set", spec, values)
    start = time.perf_counter()
    table = affwild2.build_index(tmp_path)
    elapsed = time.perf_counter() - start
    assert len(table) == 200_000
    assert elapsed < 20  # generous: the benchmark reports the real number


def test_data_splits_cli_writes_consistent_lists(synthetic_data, tmp_path):
    out = tmp_path / "splits"
    result = CliRunner().invoke(main, ["data", "splits", str(synthetic_data[0] / "affwild2_abaw2"),
                                       "--out", str(out), "--fraction", "0.3"])
    assert result.exit_code == 0, result.output
    for track in ("expr", "va", "au"):
        train = set(affwild2.read_split(out / f"{track}-train.txt"))
        dev = set(affwild2.read_split(out / f"{track}-dev.txt"))
        rest = set(affwild2.read_split(out / f"{track}-dev-train.txt"))
        assert dev and not dev & rest and dev | rest == train
        assert not train & set(affwild2.read_split(out / f"{track}-validation.txt"))
    manifest = synthetic_data[1]["affwild2_abaw2"]
    assert affwild2.read_split(out / "shared-train.txt") == sorted(manifest["shared_videos"]["train"])
    too_much = CliRunner().invoke(main, ["data", "splits", str(synthetic_data[0] / "affwild2_abaw2"),
                                         "--out", str(tmp_path / "x"), "--fraction", "0.99"])
    assert too_much.exit_code == 2 and "lower the fraction" in too_much.output
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_a_root_with_two_editions_annotations_needs_a_choice(synthetic_data, tmp_path):
    import shutil

    out, manifest = synthetic_data
    root = tmp_path / "both"
    shutil.copytree(out / "affwild2_abaw2" / "annotations", root / "annotations")
    shutil.copytree(out / "affwild2_abaw6" / "6th ABAW Annotations", root / "6th ABAW Annotations")
    (root / "overview.png").write_bytes(b"not a crop folder")  # a stray image must not hide anything
    with pytest.raises(affwild2.DatasetError, match="--annotations"):
        affwild2.index(root, cache=False)
    newer = affwild2.index(root, cache=False, annotations="6th ABAW Annotations")
    assert newer.attrs["edition"] == "abaw3+"
    older = affwild2.check(root, annotations="annotations")
    assert older["edition"] == "abaw2"
    assert older["tracks"]["expr"]["train"]["valid"] == manifest["affwild2_abaw2"]["tracks"]["expr"]["splits"]["train"]["valid"]
    result = CliRunner().invoke(main, ["data", "check", str(root)])
    assert result.exit_code == 2 and "--annotations" in result.output


def test_joint_holdout_is_one_video_split_for_all_tracks(synthetic_data):
    table = affwild2.index(synthetic_data[0] / "affwild2_abaw2", cache=False)
    train, dev = affwild2.holdout_split(table, ("expr", "va", "au"), fraction=0.3, seed=0)
    assert dev and not set(train) & set(dev)
    every_train = set().union(*(affwild2.official_split(table, t, "train") for t in ("expr", "va", "au")))
    assert set(train) | set(dev) == every_train


def test_au_holdout_follows_au_labels_not_va():
    import pandas as pd

    rows = []
    for v in range(20):
        active = np.zeros((100, 12), dtype=np.int8)
        active[:, v % 12] = 1
        frame = pd.DataFrame(active, columns=[f"AU{i}" for i in range(12)])
        frame["video"], frame["frame"], frame["has_crop"], frame["split_au"] = f"v{v}", np.arange(1, 101), True, "train"
        frame["valence"] = frame["arousal"] = -5.0
        rows.append(frame)
    histogram = affwild2._label_histogram(pd.concat(rows, ignore_index=True), "au")
    assert histogram[:12].tolist() == [200.0] * 8 + [100.0] * 4 and histogram[12] == 0


def test_decoding_check_finds_the_same_unreadable_crops(synthetic_data):
    root = synthetic_data[0] / "affwild2_abaw2"
    quick, full = affwild2.check(root), affwild2.check(root, decode=True)
    assert full["crops"]["unreadable"] == quick["crops"]["unreadable"] != []
    assert full["crops"]["check"] == "decoded"


def test_layout_edition_from_headers_and_folder_names(tmp_path):
    from abawbench import formats
    from abawbench.tracks import track_spec

    expr7, au8 = track_spec("abaw1", "expr"), track_spec("abaw1", "au")
    formats.write_per_video(tmp_path / "annotations" / "EXPR_Set" / "Training_Set", expr7, {"v": np.zeros((3, 1))})
    formats.write_per_video(tmp_path / "annotations" / "AU_Set" / "Training_Set", au8, {"v": np.zeros((3, 8))})
    assert affwild2.build_index(tmp_path).attrs["edition"] == "abaw1"
    other = tmp_path / "later"
    formats.write_per_video(other / "x" / "EXPR_Recognition_Challenge" / "Train_Set", track_spec("abaw6", "expr"),
                            {"v": np.zeros((3, 1))})
    assert affwild2.build_index(other).attrs["edition"] == "abaw3+"


def test_cli_dev_fraction_default_is_the_library_default():
    from abawbench.cli import data_splits

    fraction = next(p for p in data_splits.params if p.name == "fraction")
    assert fraction.default == affwild2.DEV_FRACTION  # the CLI keeps a literal so --help stays import-light


def _train_table(videos, has_crop=True, **extra):
    import pandas as pd

    rng = np.random.default_rng(2)
    rows = [pd.DataFrame({"video": name, "frame": np.arange(1, 41), "expr": rng.integers(0, 7, 40).astype(np.int8),
                          "valence": np.float32(-5), "arousal": np.float32(-5),
                          "has_crop": has_crop(name) if callable(has_crop) else has_crop,
                          "split_expr": "train", "split_va": "", **extra}) for name in videos]
    return pd.concat(rows, ignore_index=True)


def test_holdout_arguments_are_checked_with_clear_errors():
    table = _train_table([f"v{i}" for i in range(10)])
    for fraction in (0, 1, 1.5, -0.1):
        with pytest.raises(affwild2.DatasetError, match="^fraction must be between 0 and 1$"):
            affwild2.holdout_split(table, "expr", fraction=fraction)
    with pytest.raises(affwild2.DatasetError, match="^no labelled VA train frames to split$"):
        affwild2.holdout_split(table, "va")
    with pytest.raises(affwild2.DatasetError, match="^no labelled VA/AU train frames to split$"):
        affwild2.holdout_split(table.assign(AU1=np.int8(-1), split_au=""), ("va", "au"))
    single = _train_table(["v0"])  # one video: any hold-out takes all of it
    with pytest.raises(affwild2.DatasetError) as caught:
        affwild2.holdout_split(single, "expr", fraction=0.5)
    assert str(caught.value) == "the hold-out would take every train video: lower the fraction"


def test_holdout_counts_labelled_frames_without_a_crop_and_defaults_to_seed_zero():
    # the hold-out splits videos by their labels; a video whose crops are all missing is
    # still a train video and must land on one side
    names = [f"v{i}" for i in range(10)]
    table = _train_table(names, has_crop=lambda name: name not in ("v3", "v7"))
    train, dev = affwild2.holdout_split(table, "expr", fraction=0.3)
    assert sorted(train + dev) == sorted(names)
    assert (train, dev) == affwild2.holdout_split(table, "expr", fraction=0.3, seed=0)
    # the documented default: 8 shuffled candidates at each greedy pick (9 picks otherwise for some seed)
    assert all(affwild2.holdout_split(table, "expr", fraction=0.3, seed=s) ==
               affwild2.holdout_split(table, "expr", fraction=0.3, seed=s, candidates=8) for s in range(20))
    assert any(affwild2.holdout_split(table, "expr", fraction=0.3, seed=s, candidates=8) !=
               affwild2.holdout_split(table, "expr", fraction=0.3, seed=s, candidates=9) for s in range(20))
    assert any(affwild2.holdout_split(table, "expr", fraction=0.3, seed=s) != (train, dev) for s in (1, 2, 3))


def test_shared_frames_need_both_tracks_in_the_split():
    import pandas as pd

    table = pd.DataFrame({"video": ["both", "both", "mixed", "mixed"], "frame": [1, 2, 1, 2],
                          "expr": np.array([1, 2, 3, 4], np.int8), "valence": np.float32([0.1, 0.2, 0.3, 0.4]),
                          "arousal": np.float32([0.1, 0.2, 0.3, 0.4]),
                          "split_expr": ["train", "train", "train", "train"],
                          "split_va": ["train", "train", "validation", "validation"]})
    assert affwild2.shared_frames(table, "train")["video"].tolist() == ["both", "both"]
    assert affwild2.shared_frames(table, "validation").empty
    assert affwild2.shared_videos(table, "train") == ["both"]


def test_frames_of_keeps_labelled_frames_with_a_crop_of_the_chosen_videos():
    import pandas as pd

    table = pd.DataFrame({"video": ["a", "a", "a", "b", "b"], "frame": [1, 2, 3, 1, 2],
                          "expr": np.array([1, -1, 2, 3, 4], np.int8), "has_crop": [True, True, False, True, True],
                          "split_expr": ["train"] * 3 + ["validation"] * 2})
    assert affwild2.frames_of(table, "expr")[["video", "frame"]].values.tolist() == [["a", 1], ["b", 1], ["b", 2]]
    assert affwild2.frames_of(table, "expr", with_crop=False)["frame"].tolist() == [1, 3, 1, 2]
    assert affwild2.frames_of(table, "expr", videos=["b"])["frame"].tolist() == [1, 2]
    assert affwild2.frames_of(table, "expr", split="train")["frame"].tolist() == [1]
    assert affwild2.frames_of(table, "expr", videos=["a"], split="train", with_crop=False)["frame"].tolist() == [1, 3]


def test_label_histograms_by_hand():
    import pandas as pd

    expr = pd.DataFrame({"expr": np.array([0, 7, 7, 3], np.int8)})
    assert affwild2._label_histogram(expr, "expr").tolist() == [1, 0, 0, 1, 0, 0, 0, 2]  # 8 classes
    # a 4 × 4 grid over [-1, 1]: cell edges at -0.5, 0, 0.5; 1 falls in the last cell
    va = pd.DataFrame({"valence": [-1.0, -0.6, 0.0, 0.49, 1.0], "arousal": [-1.0, 0.2, -0.1, 0.6, 1.0]})
    expected = np.zeros(16)
    for v_cell, a_cell in [(0, 0), (0, 2), (2, 1), (2, 3), (3, 3)]:
        expected[v_cell * 4 + a_cell] += 1
    assert affwild2._label_histogram(va, "va").tolist() == expected.tolist()
    aus = pd.DataFrame({"AU1": [1, 0, 0, -1], "AU2": [1, 1, 0, 0]})
    assert affwild2._label_histogram(aus, "au").tolist() == [1, 2, 2]  # positives per AU, then frames with none


def test_holdout_is_deterministic_and_a_joint_one_takes_its_share_of_every_track():
    import pandas as pd

    rng = np.random.default_rng(6)
    rows = []
    for i in range(30):
        n = 40
        rows.append(pd.DataFrame({"video": f"v{i}", "frame": np.arange(1, n + 1),
                                  "expr": rng.integers(0, 7, n).astype(np.int8),
                                  "valence": rng.uniform(-1, 1, n).astype(np.float32),
                                  "arousal": rng.uniform(-1, 1, n).astype(np.float32), "has_crop": True,
                                  "split_expr": "train", "split_va": "train"}))
    table = pd.concat(rows, ignore_index=True)
    for seed in (0, 3):
        assert affwild2.holdout_split(table, "expr", 0.3, seed) == affwild2.holdout_split(table, "expr", 0.3, seed)
    assert affwild2.holdout_split(table) == affwild2.holdout_split(table, "expr")  # EXPR by default
    train, dev = affwild2.holdout_split(table, ("expr", "va"), fraction=0.3, seed=0)
    # every video carries both labels on every frame: dev holds 30% of the frames, give or take a video
    assert 0.3 <= len(dev) / 30 < 0.3 + 2 / 30
