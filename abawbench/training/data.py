"""Where the paper baseline's data comes from, and its training parts.

``--data ROOT`` is either

* a folder holding the Aff-Wild2 root and the external databases side by side (what
  ``abawbench data synth OUT`` writes: ``OUT/affwild2_abaw2``, ``OUT/expw``,
  ``OUT/afew_va``, ``OUT/affectnet``), or
* a plain Aff-Wild2 root (it has ``cropped_aligned/``), the external databases then
  given in the config (``--set data.expw=PATH`` ...).

Config keys ``data.affwild2`` / ``data.expw`` / ``data.afew_va`` / ``data.affectnet``
override what is found; ``"none"`` leaves an external database out. The data is only
read (the readers' crops and caches go to the cache folder, never into these folders).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from abawbench.data.affwild2 import CROPS_FOLDER, DatasetError, find_annotation_folders
from abawbench.training.config import ConfigError

EXTERNAL = ("expw", "afew_va", "affectnet")
#: Size the external readers crop faces to (Aff-Wild2's crops are 112 px); the loader
#: resizes to the model's input.
EXTERNAL_CROP_SIZE = 112


@dataclass
class DataSources:
    """The resolved data folders of a run (recorded in run.json ``data``)."""

    root: Path
    affwild2: Path
    edition: str
    synthetic: bool
    annotations: str | None = None
    external: dict[str, Path | None] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"root": str(self.root), "affwild2": str(self.affwild2), "edition": self.edition,
                "synthetic": self.synthetic, "annotations": self.annotations,
                **{name: (str(path) if path else None) for name, path in self.external.items()}}


def _expr_columns(root: Path) -> int | None:
    """Number of EXPR classes in the root's annotation headers (7 ABAW1-2, 8 ABAW3+)."""
    for folder in find_annotation_folders(root):
        if folder.track == "expr":
            return len(folder.columns)
    return None


def is_synthetic(affwild2: Path) -> bool:
    """The root was written by ``abawbench data synth`` (its manifest in the root or above)."""
    from abawbench.data.synth import is_synthetic as holds_synthetic_tree

    return any(holds_synthetic_tree(folder) for folder in (affwild2, affwild2.parent))


def _find_affwild2(root: Path, wanted_classes: int | None) -> Path:
    if (root / CROPS_FOLDER).is_dir():
        return root
    candidates = sorted(p for p in root.iterdir() if p.is_dir() and (p / CROPS_FOLDER).is_dir())
    if not candidates:
        raise DatasetError(f"{root}: no Aff-Wild2 root found (a folder with {CROPS_FOLDER}/), neither --data itself "
                           "nor one of its sub-folders; pass --data the Aff-Wild2 root or set data.affwild2")
    if len(candidates) > 1:
        # several layouts side by side (data synth writes ABAW2's and ABAW6's): the one
        # whose EXPR files have the method's 7 classes, or the edition asked for
        matching = [c for c in candidates if _expr_columns(c) == (wanted_classes or 7)]
        if len(matching) == 1:
            return matching[0]
        raise DatasetError(f"{root}: several Aff-Wild2 roots ({', '.join(c.name for c in candidates)}); choose one "
                           "with --set data.affwild2=PATH")
    return candidates[0]


def _edition(affwild2: Path, configured: str) -> str:
    if configured != "auto":
        from abawbench.tracks import get_edition

        try:
            return get_edition(configured).name
        except ValueError as error:
            raise ConfigError(f"data.edition: {error}") from None
    classes = _expr_columns(affwild2)
    # ABAW3+ annotation files (8 classes) are scored per video as ABAW3 did (F1 only)
    return "abaw3" if classes == 8 else "abaw2"


def _locate(given: str, root: Path) -> Path:
    """A configured folder: absolute as given; relative to ``--data`` when it is there,
    else to the working directory."""
    path = Path(given).expanduser()
    if path.is_absolute():
        return path.resolve()
    return (root / path).resolve() if (root / path).exists() else (Path.cwd() / path).resolve()


def resolve_sources(data_root: Path, config: dict[str, Any]) -> DataSources:
    """The Aff-Wild2 root and external databases of ``--data`` and the config."""
    section = config["data"]
    root = Path(data_root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data folder")
    wanted = None
    if section["edition"] != "auto":
        from abawbench.tracks import get_edition

        wanted = len(get_edition(section["edition"]).expr_classes)
    if section["affwild2"]:
        affwild2 = _locate(section["affwild2"], root)
        if not (affwild2 / CROPS_FOLDER).is_dir():
            raise DatasetError(f"data.affwild2 = {section['affwild2']!r}: {affwild2} has no {CROPS_FOLDER}/ folder")
    else:
        affwild2 = _find_affwild2(root, wanted)
    external: dict[str, Path | None] = {}
    for name in EXTERNAL:
        given = section[name]
        if given.lower() == "none":
            external[name] = None
            continue
        if given:
            path = _locate(given, root)
            if not path.is_dir():
                raise DatasetError(f"data.{name} = {given!r}: {path} is not a folder")
            external[name] = path
        else:
            beside = [p for p in (root / name, affwild2.parent / name) if p.is_dir()]
            external[name] = beside[0].resolve() if beside else None
    return DataSources(root=root, affwild2=affwild2, edition=_edition(affwild2, section["edition"]),
                       synthetic=is_synthetic(affwild2), annotations=section["annotations"] or None,
                       external=external)


def affwild2_index(sources: DataSources) -> pd.DataFrame:
    from abawbench.data import affwild2

    return affwild2.index(sources.affwild2, annotations=sources.annotations)


def external_tables(sources: DataSources, config: dict[str, Any], progress: bool = False
                    ) -> dict[str, pd.DataFrame | None]:
    """The external sample tables the config's parts need (None where left out)."""
    from abawbench.data.afew_va import read_afew_va
    from abawbench.data.affectnet import read_affectnet
    from abawbench.data.expw import read_expw

    section = config["data"]
    tables: dict[str, pd.DataFrame | None] = {"expw": None, "afew_va": None, "affectnet": None}
    if sources.external.get("expw"):
        tables["expw"] = read_expw(sources.external["expw"], size=EXTERNAL_CROP_SIZE, progress=progress)
    if sources.external.get("afew_va"):
        tables["afew_va"] = read_afew_va(sources.external["afew_va"], size=EXTERNAL_CROP_SIZE, progress=progress)
    if section["expr_va_source"] == "affectnet" and 3 in config["method"]["tasks"]:
        path = sources.external.get("affectnet")
        if path is None:
            raise ConfigError("data.expr_va_source = 'affectnet' needs AffectNet: put it beside the Aff-Wild2 root "
                              "as affectnet/, set data.affectnet=PATH, or set data.expr_va_source = "
                              "'affwild2-shared'")
        splits = [read_affectnet(path, split, size=EXTERNAL_CROP_SIZE, progress=progress)
                  for split in section["affectnet_splits"]]
        table = pd.concat(splits, ignore_index=True) if len(splits) > 1 else splits[0]
        if len(splits) > 1:
            table.attrs = dict(splits[0].attrs)
            for column in ("source", "video"):
                table[column] = table[column].astype(str).astype("category")
        tables["affectnet"] = table
    return tables


def training_parts(index: pd.DataFrame, tables: dict[str, pd.DataFrame | None], config: dict[str, Any]
                   ) -> dict[str, pd.DataFrame]:
    """The parts of the tasks in use (``build_parts``), in task order."""
    from abawbench.data.mixing import build_parts
    from abawbench.losses import TASK_PARTS

    section = config["data"]
    tasks = config["method"]["tasks"]
    source = section["expr_va_source"] if 3 in tasks else "affwild2-shared"
    parts = build_parts(index, expw=tables["expw"], afew_va=tables["afew_va"],
                        affectnet=tables["affectnet"] if 3 in tasks else None, expr_va_source=source,
                        share_annotations=True, thin=section["thin"], keep_other=section["keep_other"])
    # shared labels are always kept in the tables: the teacher ignores them and the
    # Eq. 9 student masks them out (method.shared_annotations), so one table serves both
    chosen = {TASK_PARTS[t]: parts[TASK_PARTS[t]] for t in tasks}
    empty = [name for name, table in chosen.items() if len(table) == 0]
    if empty:
        raise DatasetError(f"training part(s) {', '.join(empty)} have no rows: check the data under "
                           f"{index.attrs.get('root')}")
    return chosen
