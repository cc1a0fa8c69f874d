"""Aff-Wild2 in any edition's layout: find its annotation folders, index it into one frame
table, carve standard splits, and check what is there and what is wrong.

The frame table has one row per (video, frame) that any annotation file or crop
covers; columns follow the sample-table contract of :mod:`abawbench.data` plus
``has_crop``, ``split_expr``/``split_va``/``split_au``, ``shared`` and one column per AU.
Construction is vectorised: every annotation file of a track and split is parsed in
one pass (:func:`abawbench.formats.read_many`) and scattered into the table by
``offset[video] + frame − 1``. The table is cached in the user's cache folder
(:mod:`abawbench.cache`, kind ``index``; the dataset is only read) and rebuilt when an
annotation file or a crop folder changes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from abawbench import atomic
from abawbench import cache as user_cache
from abawbench.data import MISSING_EXPR, MISSING_VA, valid_expr, valid_va
from abawbench.formats import read_many
from abawbench.tracks import AU_NAMES_8, AU_NAMES_12, TRACKS, track_spec

if TYPE_CHECKING:  # pandas is imported where a table is built: the scorer, which finds folders here, starts without it
    import pandas as pd

SPLIT_FOLDERS = {
    "train_set": "train", "training_set": "train", "train": "train",
    "validation_set": "validation", "valid_set": "validation", "val_set": "validation",
    "validation": "validation", "val": "validation",
    "test_set": "test", "test": "test",
}
CROPS_FOLDER = "cropped_aligned"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_MAX_DEPTH = 6
_INDEX_VERSION = 2
DEV_FRACTION = 0.15  # share of the labelled train frames a dev hold-out takes by default


class DatasetError(ValueError):
    """The dataset cannot be used as asked: ambiguous layouts, a split that cannot be made."""


@dataclass(frozen=True)
class AnnotationFolder:
    """A ``<split>/`` folder of per-video annotation files of one track."""

    folder: Path
    split: str
    track: str
    columns: tuple[str, ...]


def _first_line(path: Path) -> str:
    try:
        with open(path, "rb") as stream:
            return stream.readline(4096).decode("utf-8", "replace")
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the annotation file ({error.strerror or error})") from None


def _unreadable_folder(folder: Path, error: OSError) -> DatasetError:
    return DatasetError(f"{folder}: cannot read the folder ({error.strerror or error}); "
                        "every folder of the dataset must be readable (and listable) by you")


def _file_or_unreadable(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return True  # a symlink loop and the like: the reader reports it with its name


def annotation_files(folder: Path) -> list[Path]:
    """The ``*.txt`` files of a folder, sorted, hidden ones left out."""
    folder = Path(folder)
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".txt") and not e.name.startswith(".")
                       and _file_or_unreadable(e))
    except OSError as error:
        raise _unreadable_folder(folder, error) from None
    return [folder / name for name in names]


def file_signature(path: Path) -> str:
    """Changes whenever the file's content may have: size, inode, mtime and ctime (which,
    unlike mtime, no tool can set back)."""
    stat = path.stat()
    return f"{stat.st_size}|{stat.st_ino}|{stat.st_mtime_ns}|{stat.st_ctime_ns}"


def dataset_folders(root: Path, max_depth: int = _MAX_DEPTH) -> Iterator[tuple[Path, list[os.DirEntry]]]:
    """Walk a dataset root: each folder with its sorted entries, top-down.

    Not entered: hidden folders, ``cropped*`` folders, split folders (``Train_Set``…:
    annotation files, listed by their parent's entries), ``lost+found`` and folders of
    images (a video's crops), so a full copy with millions of crops is walked in
    milliseconds. A folder that cannot be read is a :class:`DatasetError` naming it (a
    track must not vanish silently).
    """
    stack = [(Path(root), 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while walking
        except OSError as error:
            raise _unreadable_folder(folder, error) from None
        sample = entries[:50]
        images = sum(e.name.lower().endswith(_IMAGE_SUFFIXES) for e in sample)
        if images >= 10 and images >= 0.9 * len(sample):
            continue  # a folder of images: nothing to find in or below it
        yield folder, entries
        if depth + 1 >= max_depth:
            continue
        for entry in reversed(entries):
            name = entry.name.lower()
            if (not name.startswith(".") and not name.startswith("cropped") and name not in SPLIT_FOLDERS
                    and name != "lost+found" and _dir_or_unreadable(entry)):
                stack.append((Path(entry.path), depth + 1))


def _dir_or_unreadable(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def find_annotation_folders(root: Path, unknown: list[Path] | None = None) -> list[AnnotationFolder]:
    """Every split folder of annotation files under ``root``, its track read from headers.

    Folder names differ between editions, so only the split folder's own name
    (``Train_Set``, ``Validation_Set``…) and the files' headers count (the tree is walked
    by :func:`dataset_folders`). Split folders whose first file has no known header are
    appended to ``unknown``.
    """
    from abawbench.tracks import detect_track

    root = Path(root)
    candidates = [root] if root.name.lower() in SPLIT_FOLDERS else []
    for _, entries in dataset_folders(root):
        candidates += [Path(e.path) for e in entries if e.name.lower() in SPLIT_FOLDERS and _dir_or_unreadable(e)]
    found = []
    for folder in sorted(set(candidates)):
        texts = annotation_files(folder)
        if not texts:
            continue
        detected = detect_track(_first_line(texts[0]))
        if detected:
            found.append(AnnotationFolder(folder, SPLIT_FOLDERS[folder.name.lower()], *detected))
        elif unknown is not None:
            unknown.append(texts[0])
    return found


def annotation_set(root: Path, folder: AnnotationFolder) -> str:
    """The annotation set a split folder belongs to: its grandparent, relative to the root
    (``annotations``, ``6th ABAW Annotations``, ``3rd ABAW Annotations/Third ABAW Annotations``)."""
    try:
        return str(folder.folder.parent.parent.relative_to(root))
    except ValueError:
        return "."


def select_annotation_folders(root: Path, folders: list[AnnotationFolder],
                              annotations: str | None = None) -> list[AnnotationFolder]:
    """The folders to index: those of the ``annotations`` set when given; an error when two
    folders of one track and split remain (a root holding two editions' annotations)."""
    root = Path(root)
    if annotations is not None:
        wanted = str(Path(annotations))
        chosen = [f for f in folders
                  if annotation_set(root, f) == wanted or annotation_set(root, f).startswith(wanted + os.sep)]
        if not chosen:
            sets = sorted({annotation_set(root, f) for f in folders})
            raise DatasetError(f"{root}: no annotation folders under {annotations!r}; found {', '.join(sets) or 'none'}")
        folders = chosen
    seen: dict[tuple[str, str], AnnotationFolder] = {}
    for folder in folders:
        other = seen.setdefault((folder.track, folder.split), folder)
        if other is not folder:
            sets = sorted({annotation_set(root, f) for f in folders})
            raise DatasetError(f"{root}: two {folder.track.upper()} {folder.split} folders ({other.folder} and "
                               f"{folder.folder}); choose one annotation set with --annotations "
                               f"({' | '.join(repr(x) for x in sets)})")
    return folders


def crops_root(root: Path) -> Path:
    return Path(root) / CROPS_FOLDER


def list_crops(root: Path) -> dict[str, np.ndarray]:
    """Frame numbers (sorted int64) of the crop files of every video folder."""
    crops = crops_root(root)
    if not crops.is_dir():
        return {}
    listing = {}
    try:
        entries = sorted(os.scandir(crops), key=lambda e: e.name)
    except OSError as error:
        raise _unreadable_folder(crops, error) from None
    for entry in entries:
        if _dir_or_unreadable(entry):
            try:
                names = os.listdir(entry.path)
            except OSError as error:
                raise _unreadable_folder(Path(entry.path), error) from None
            # ASCII digits only: str.isdigit() admits '²' (int() then fails) and '٣' (read as 3)
            names = [n for n in names if n.endswith(".jpg") and n[:-4].isascii() and n[:-4].isdigit()]
            listing[entry.name] = np.sort(np.fromiter((int(n[:-4]) for n in names), dtype=np.int64, count=len(names)))
    return listing


def _fingerprint(root: Path, folders: list[AnnotationFolder]) -> str:
    """Changes when an annotation file or a crop folder (its file list) changes."""
    digest = hashlib.sha1(str(_INDEX_VERSION).encode())
    for folder in folders:
        for path in annotation_files(folder.folder):
            digest.update(f"{path}|{file_signature(path)}".encode())
    crops = crops_root(root)
    if crops.is_dir():
        try:
            entries = sorted(os.scandir(crops), key=lambda e: e.name)
            for entry in entries:
                stat = entry.stat()
                digest.update(f"{entry.name}|{stat.st_mtime_ns}|{stat.st_ctime_ns}".encode())
        except OSError as error:
            raise _unreadable_folder(crops, error) from None
    return digest.hexdigest()


def index(root: Path, cache: bool = True, annotations: str | None = None) -> pd.DataFrame:
    """The frame table of an Aff-Wild2 root (see the module docstring).

    ``attrs``: ``root``, ``edition`` (``abaw2`` for 7-class EXPR files, ``abaw3+`` for 8),
    ``folders`` (track, split, folder), ``annotation_lines`` ({track: {video: lines}}).
    """
    root = Path(root)
    folders = select_annotation_folders(root, find_annotation_folders(root), annotations)
    if not cache:
        return build_index(root, folders)
    identity = (str(root.resolve()), annotations or "", str(root))  # attrs["root"] keeps the path as given
    key = _fingerprint(root, folders)
    table = _load_index_cache(identity, key)
    if table is None:
        table = build_index(root, folders)
        stored = user_cache.frame_to_arrays(table)
        if stored is not None:
            user_cache.write("index", identity, key, *stored)
    return table


def _load_index_cache(identity: tuple[str, ...], key: str) -> pd.DataFrame | None:
    entry = user_cache.read("index", identity, key)
    if entry is None:
        return None
    try:
        table = user_cache.frame_from_arrays(entry.arrays, entry.meta)
    except (KeyError, TypeError, ValueError):
        return None
    # JSON has no tuples: restore the (track, split, folder) triples
    table.attrs["folders"] = [tuple(folder) for folder in table.attrs.get("folders", [])]
    return table


def _read_track_folders(folders: list[AnnotationFolder]):
    """Per track: {video: (split, values)} and the track's columns."""
    per_track: dict[str, dict[str, tuple[str, np.ndarray]]] = {t: {} for t in TRACKS}
    columns: dict[str, tuple[str, ...]] = {}
    for folder in folders:
        spec = track_spec("abaw8" if folder.track == "expr" and len(folder.columns) == 8 else "abaw2",
                          folder.track, folder.columns if folder.track == "au" else None)
        paths = annotation_files(folder.folder)
        for path, values in zip(paths, read_many(paths, spec, allow_invalid=True)):
            per_track[folder.track][path.stem] = (folder.split, values)
        columns[folder.track] = folder.columns
    return per_track, columns


def build_index(root: Path, folders: list[AnnotationFolder] | None = None, crops: dict | None = None) -> pd.DataFrame:
    """Build the frame table without the cache (see :func:`index`)."""
    import pandas as pd

    root = Path(root)
    folders = select_annotation_folders(root, find_annotation_folders(root)) if folders is None else folders
    per_track, columns = _read_track_folders(folders)
    crops = list_crops(root) if crops is None else crops
    videos = sorted(set().union(*(per_track[t].keys() for t in TRACKS), crops.keys()))
    position = {video: i for i, video in enumerate(videos)}
    lengths = np.zeros(len(videos), dtype=np.int64)
    for track in TRACKS:
        for video, (_, values) in per_track[track].items():
            lengths[position[video]] = max(lengths[position[video]], len(values))
    for video, frames in crops.items():
        if frames.size:
            lengths[position[video]] = max(lengths[position[video]], int(frames[-1]))
    offsets = np.cumsum(lengths) - lengths
    n = int(lengths.sum())
    video_codes = np.repeat(np.arange(len(videos), dtype=np.int32), lengths)
    frame = (np.arange(n, dtype=np.int64) - np.repeat(offsets, lengths) + 1).astype(np.int32)

    def scatter(track: str, width: int, fill, dtype):
        out = np.full((n, width), fill, dtype=dtype)
        split = np.full(len(videos), "", dtype=object)
        for video, (name, values) in per_track[track].items():
            i = position[video]
            out[offsets[i]: offsets[i] + len(values)] = values
            split[i] = name
        return out, split

    expr, expr_split = scatter("expr", 1, MISSING_EXPR, np.int8)
    va, va_split = scatter("va", 2, MISSING_VA, np.float32)
    au_names = columns.get("au", AU_NAMES_12)
    au, au_split = scatter("au", len(au_names), -1, np.int8)
    va[(va == MISSING_VA).any(axis=1)] = MISSING_VA  # −5 in one column invalidates the frame
    au[(au == -1).any(axis=1)] = -1

    has_crop = np.zeros(n, dtype=bool)
    for video, frames in crops.items():
        i = position[video]
        has_crop[offsets[i] + frames[frames >= 1] - 1] = True

    video_names = np.array(videos, dtype=object)
    categories = pd.CategoricalDtype(videos)
    shared = np.array([v in per_track["expr"] and v in per_track["va"] for v in videos])
    split_names = ["train", "validation", "test", ""]
    split_type = pd.CategoricalDtype(split_names)

    def split_column(per_video: np.ndarray) -> pd.Categorical:
        # codes per video, then per row: no string matching over millions of rows
        codes = np.array([split_names.index(name) for name in per_video], dtype=np.int8)
        return pd.Categorical.from_codes(codes[video_codes], dtype=split_type)

    table = pd.DataFrame({
        "source": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                            categories=["affwild2", "expw", "afew_va", "affectnet"]),
        "video": pd.Categorical.from_codes(video_codes, dtype=categories),
        "frame": frame,
        "path": pd.Series(_crop_paths(video_names, video_codes, frame), dtype=object),
        "expr": expr[:, 0],
        "valence": va[:, 0],
        "arousal": va[:, 1],
        "has_crop": has_crop,
        "split_expr": split_column(expr_split),
        "split_va": split_column(va_split),
        "split_au": split_column(au_split),
        "shared": shared[video_codes],
    })
    for j, name in enumerate(au_names):
        table[name] = au[:, j]
    table.attrs.update({
        "root": str(root),
        "edition": _layout_edition(folders, columns),
        "folders": [(f.track, f.split, str(f.folder)) for f in folders],
        "annotation_lines": {t: {v: len(values) for v, (_, values) in per_track[t].items()} for t in TRACKS},
        "splits": {t: {v: split for v, (split, _) in per_track[t].items()} for t in TRACKS},
        "au_names": list(au_names),
    })
    return table


def _layout_edition(folders: list[AnnotationFolder], columns: dict[str, tuple[str, ...]]) -> str:
    """Which edition's files these are, from headers and folder names: 8 EXPR classes mean
    ABAW3 or later; 7 classes with 8-AU files or a ``Training_Set`` folder, ABAW1."""
    if "expr" not in columns and "au" not in columns:
        return "unknown"
    if len(columns.get("expr", ())) == 8:
        return "abaw3+"
    if columns.get("au") == AU_NAMES_8 or any(f.folder.name.lower() == "training_set" for f in folders):
        return "abaw1"
    return "abaw2"


def _crop_paths(video_names: np.ndarray, video_codes: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """``cropped_aligned/<video>/<frame:05d>.jpg`` per row: one string per video and one per
    frame number, joined by an element-wise add (3× faster than formatting every row)."""
    prefixes = np.array([f"{CROPS_FOLDER}/{video}/" for video in video_names], dtype=object)
    last = int(frame.max()) if frame.size else 0
    files = np.array([f"{f:05d}.jpg" for f in range(1, last + 1)], dtype=object)
    return np.add(prefixes[video_codes], files[frame - 1]) if frame.size else np.array([], dtype=object)


# ------------------------------------------------------------------------- splits


def has_label(table: pd.DataFrame, track: str) -> np.ndarray:
    """Rows whose ``track`` label is valid (EXPR and VA: the one rule of
    :func:`abawbench.data.valid_expr` / :func:`abawbench.data.valid_va`)."""
    if track == "expr":
        return valid_expr(table["expr"].to_numpy())
    if track == "va":
        return valid_va(table["valence"].to_numpy(), table["arousal"].to_numpy())
    first_au = next(c for c in table.columns if c.startswith("AU"))
    return (table[first_au] != -1).to_numpy()


def official_split(table: pd.DataFrame, track: str, split: str) -> list[str]:
    """Videos of the organisers' ``split`` (``train``/``validation``) of ``track``."""
    column = table[f"split_{track}"]
    return sorted(table.loc[column == split, "video"].unique().tolist())


def frames_of(table: pd.DataFrame, track: str, videos: list[str] | None = None, split: str | None = None,
              with_crop: bool = True) -> pd.DataFrame:
    """Usable training/evaluation frames: valid label, crop present, in ``videos`` or ``split``."""
    keep = has_label(table, track).copy()
    if with_crop:
        keep &= table["has_crop"].to_numpy()
    if split is not None:
        keep &= (table[f"split_{track}"] == split).to_numpy()
    if videos is not None:
        keep &= table["video"].isin(videos).to_numpy()
    return table[keep]


def shared_videos(table: pd.DataFrame, split: str) -> list[str]:
    """Videos annotated for both EXPR and VA in ``split`` (164 in ABAW 2021's train+validation)."""
    both = (table["split_expr"] == split) & (table["split_va"] == split)
    return sorted(table.loc[both, "video"].unique().tolist())


def shared_frames(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """Frames of ``split`` carrying a valid EXPR and a valid VA label."""
    keep = has_label(table, "expr") & has_label(table, "va")
    keep = keep & ((table["split_expr"] == split) & (table["split_va"] == split)).to_numpy()
    return table[keep]


def subject_group(video: str) -> str:
    """``10-60-1280x720_left`` and ``_right`` are one video: they share a group."""
    for suffix in ("_left", "_right"):
        if video.endswith(suffix):
            return video[: -len(suffix)]
    return video


def _label_histogram(frames: pd.DataFrame, track: str) -> np.ndarray:
    """Label distribution of a track's frames: EXPR classes, a 4×4 VA grid, AU positives."""
    if track == "expr":
        return np.bincount(frames["expr"].to_numpy().astype(np.int64), minlength=8).astype(float)
    if track == "va":
        cells = np.clip(((frames[["valence", "arousal"]].to_numpy() + 1) / 2 * 4).astype(int), 0, 3)
        return np.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16).astype(float)
    aus = frames[[c for c in frames.columns if c.startswith("AU")]].to_numpy()
    # positives per AU, plus the frames with no active AU so the total is the frame count
    return np.append((aus == 1).sum(axis=0), (aus != 1).all(axis=1).sum()).astype(float)


def holdout_split(table: pd.DataFrame, track: str | tuple[str, ...] = "expr", fraction: float = DEV_FRACTION,
                  seed: int = 0, candidates: int = 8) -> tuple[list[str], list[str]]:
    """Carve a video-disjoint ``dev`` hold-out from the official train set: ``(train, dev)``.

    Deterministic for a seed. Subjects of a ``_left``/``_right`` video stay on one side.
    Groups are added to dev greedily, each time picking among ``candidates`` shuffled
    groups the one that keeps dev's label distribution closest (L1) to train's, until dev
    holds ``fraction`` of the labelled train frames. With several tracks (a multi-task
    hold-out) the videos are split once for all of them and every track's distribution
    counts equally.
    """
    if not 0 < fraction < 1:
        raise DatasetError("fraction must be between 0 and 1")
    tracks = (track,) if isinstance(track, str) else tuple(track)
    per_track = {t: frames_of(table, t, split="train", with_crop=False) for t in tracks}
    per_track = {t: f for t, f in per_track.items() if not f.empty}
    if not per_track:
        raise DatasetError(f"no labelled {'/'.join(t.upper() for t in tracks)} train frames to split")
    groups: dict[str, list[str]] = {}
    for video in sorted(set().union(*(f["video"].unique().tolist() for f in per_track.values()))):
        groups.setdefault(subject_group(video), []).append(video)
    parts = {t: {g: _label_histogram(f[f["video"].isin(v)], t) for g, v in groups.items()}
             for t, f in per_track.items()}
    totals = {t: sum(h.values()) for t, h in parts.items()}
    # one vector per group: each track's histogram scaled so that every track weighs 1
    histograms = {g: np.concatenate([parts[t][g] / totals[t].sum() for t in parts]) for g in groups}
    target = np.concatenate([totals[t] / totals[t].sum() for t in parts]) / len(parts)
    order = list(groups)
    np.random.default_rng(seed).shuffle(order)
    dev: list[str] = []
    dev_histogram = np.zeros_like(target)
    while dev_histogram.sum() < fraction * len(parts) and order:
        def distance(group):
            mixed = dev_histogram + histograms[group]
            return np.abs(mixed / mixed.sum() - target).sum()

        best = min(order[:candidates], key=distance)
        order.remove(best)
        dev.append(best)
        dev_histogram += histograms[best]
    if not order:
        raise DatasetError("the hold-out would take every train video: lower the fraction")
    dev_videos = sorted(v for g in dev for v in groups[g])
    train_videos = sorted(v for g in order for v in groups[g])
    return train_videos, dev_videos


def write_split(path: Path, videos: list[str]) -> None:
    """A split as a plain list of video names, one per line (citable as is)."""
    atomic.write_text(Path(path), "".join(f"{v}\n" for v in videos))


def read_split(path: Path) -> list[str]:
    from abawbench.formats import FormatError, ReadLimit, read_regular_file

    raw = read_regular_file(Path(path), ReadLimit(16 * 1024 * 1024, "a list of video names"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(path, None, "UTF-8 text", "bytes that are not UTF-8") from None
    names = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if "," in name or "/" in name:
            raise FormatError(path, number, "a video name", repr(name))
        names.append(name)
    return names


def check_splits_folder(out: Path, root: Path | None, force: bool = False) -> None:
    """Raise :class:`DatasetError` unless ``out`` may receive the split lists of ``root``:
    never the dataset (``out`` inside it, or holding it: the dataset is only read); a
    folder that holds anything only with ``force``, and then only one that looks like a
    splits folder (files, no sub-folder), since it is replaced whole."""
    out = Path(out)
    out_real = Path(os.path.realpath(out))
    root_real = Path(os.path.realpath(root)) if root is not None else None
    if root_real is not None and (out_real == root_real or root_real in out_real.parents
                                  or out_real in root_real.parents):
        raise DatasetError(f"{out}: the split lists cannot go in or around the dataset {root} (it is only "
                           "ever read); choose a folder outside it")
    try:
        atomic.check_new_folder(out, force)
    except atomic.TargetNotEmpty as error:
        raise DatasetError(str(error)) from None
    if force and out.is_dir():
        folders = sorted(e.name for e in os.scandir(out) if e.is_dir(follow_symlinks=False))
        if folders:
            raise DatasetError(f"{out} holds the folder {folders[0]!r}: not a splits folder, so --force does not "
                               "replace it; choose another folder")


def write_standard_splits(table: pd.DataFrame, out: Path, fraction: float = DEV_FRACTION, seed: int = 0,
                          force: bool = False) -> dict:
    """Write every standard split of every annotated track as a plain list under ``out``.

    ``<track>-train.txt``/``<track>-validation.txt`` (official), ``<track>-dev-train.txt``/
    ``<track>-dev.txt`` (hold-out carved from train), ``shared-<split>.txt`` (EXPR∩VA).
    All or nothing: the lists are written into a temporary sibling folder that replaces
    ``out`` at the end. A non-empty ``out`` is refused unless ``force``, which replaces it
    whole (see :func:`check_splits_folder`). Returns ``{file name: number of videos}``.
    """
    out = Path(out)
    root = table.attrs.get("root")
    check_splits_folder(out, Path(root) if root else None, force)
    lists: dict[str, list[str]] = {}
    for track in TRACKS:
        for split in ("train", "validation"):
            videos = official_split(table, track, split)
            if videos:
                lists[f"{track}-{split}.txt"] = videos
        if has_label(table, track).any() and official_split(table, track, "train"):
            lists[f"{track}-dev-train.txt"], lists[f"{track}-dev.txt"] = holdout_split(table, track, fraction, seed)
    annotated = tuple(t for t in TRACKS if has_label(table, t).any() and official_split(table, t, "train"))
    if len(annotated) > 1:  # one video-level hold-out for multi-task work
        lists["joint-dev-train.txt"], lists["joint-dev.txt"] = holdout_split(table, annotated, fraction, seed)
    for split in ("train", "validation"):
        lists[f"shared-{split}.txt"] = shared_videos(table, split)
    # every list is made before the first is written, and written in a staged folder:
    # an error or an interruption leaves the old folder (or none) as it was
    with atomic.staged_folder(out) as staging:
        for name, videos in lists.items():
            (staging / name).write_text("".join(f"{v}\n" for v in videos), encoding="utf-8")
    return {name: len(videos) for name, videos in lists.items()}


# -------------------------------------------------------------------------- check


def _jpeg_looks_whole(path: str) -> bool:
    """Start-of-image and end-of-image markers present: cheap, catches truncation and garbage."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(2)
            stream.seek(-2, os.SEEK_END)
            tail = stream.read(2)
    except OSError:
        return False
    return head == b"\xff\xd8" and tail == b"\xff\xd9"


def _decodes(path: str) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:  # noqa: BLE001 - any decoder failure means unreadable
        return False


def check(root: Path, decode: bool = False, annotations: str | None = None) -> dict:
    """What an Aff-Wild2 root holds and what is wrong with it, as a JSON-ready dict."""
    root = Path(root)
    unknown: list[Path] = []
    folders = select_annotation_folders(root, find_annotation_folders(root, unknown), annotations)
    crops = list_crops(root)
    table = build_index(root, folders, crops)
    lines = table.attrs["annotation_lines"]
    tracks = {}
    for folder in folders:
        splits = table.attrs["splits"][folder.track]
        videos = sorted(v for v, split in splits.items() if split == folder.split)
        rows = table[(table[f"split_{folder.track}"] == folder.split)]
        annotated = rows["frame"].to_numpy() <= rows["video"].map(lines[folder.track]).to_numpy().astype(np.int64)
        rows = rows[annotated]
        valid = has_label(rows, folder.track)
        tracks.setdefault(folder.track, {})[folder.split] = {
            "folder": str(folder.folder.relative_to(root)) if folder.folder != root else ".",
            "header": ",".join(folder.columns),
            "videos": len(videos),
            "annotation_lines": int(len(rows)),
            "valid": int(valid.sum()),
            "invalid": int((~valid).sum()),
            "valid_with_crop": int((valid & rows["has_crop"].to_numpy()).sum()),
        }
    missing, mismatches, unreadable = {}, [], []
    paths = []
    for video, frames in crops.items():
        if frames.size:
            gaps = np.setdiff1d(np.arange(1, frames[-1] + 1), frames)
            if gaps.size:
                missing[video] = gaps.tolist()
            paths += [str(crops_root(root) / video / f"{f:05d}.jpg") for f in frames]
        for track in TRACKS:
            if video in lines[track] and frames.size and lines[track][video] != frames[-1]:
                mismatches.append({"video": video, "track": track, "annotation_lines": lines[track][video],
                                   "frames": int(frames[-1]),
                                   "difference": int(lines[track][video] - frames[-1])})
    looks_fine = _decodes if decode else _jpeg_looks_whole
    unreadable = sorted(os.path.relpath(p, root) for p in paths if not looks_fine(p))
    annotated_videos = set().union(*(lines[t].keys() for t in TRACKS))
    no_crops = sorted(v for v in annotated_videos if v not in crops)
    report = {
        "root": str(root),
        "edition": table.attrs["edition"],
        "tracks": tracks,
        "videos": {"annotated": len(annotated_videos), "with_crops": len(crops),
                   "unannotated": sorted(set(crops) - annotated_videos), "annotated_without_crops": no_crops},
        "shared_videos": {split: shared_videos(table, split) for split in ("train", "validation")},
        "left_right_pairs": sorted([v, subject_group(v) + "_right"] for v in crops
                                   if v.endswith("_left") and subject_group(v) + "_right" in crops),
        "crops": {"files": int(sum(f.size for f in crops.values())),
                  "missing": int(sum(len(m) for m in missing.values())), "missing_by_video": missing,
                  "unreadable": unreadable, "check": "decoded" if decode else "JPEG start/end markers"},
        "count_mismatches": mismatches,
        "unknown_headers": [str(p.relative_to(root)) for p in unknown],
    }
    # one line more than the last crop is the organisers' usual count (OpenCV's + 1), not a problem
    unusual = [m for m in mismatches if m["difference"] != 1]
    report["problems"] = (report["crops"]["missing"] + len(unreadable) + len(unusual) + len(unknown)
                          + len(no_crops))
    return report
