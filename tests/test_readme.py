"""The README's example outputs are the code's: each is rerun here and compared, so the
README cannot drift from what the commands print and write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from abawbench.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "submissions"


def console_block(command: str) -> list[str]:
    """The lines the README shows after ``$ <command>`` (up to the next ``$`` or the fence)."""
    lines = README.splitlines()
    start = lines.index(f"$ {command}") + 1
    block = []
    for line in lines[start:]:
        if line.startswith("```") or line.startswith("$ "):
            break
        block.append(line.rstrip())
    return block


@pytest.fixture
def run(monkeypatch):
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(command: str, **replace):
        args = command.split()[1:]  # drop "abawbench"
        args = [replace.get(a, a) for a in args]
        return CliRunner().invoke(main, args)

    return invoke


SCORE = "abawbench score valid/abaw2-expr --data data/abaw2 --track expr --json /tmp/expr.json"


def test_score_example_prints_what_the_readme_shows(run, tmp_path):
    out = tmp_path / "expr.json"
    result = run(SCORE, **{"/tmp/expr.json": str(out)})
    assert result.exit_code == 0, result.output
    printed = [line.rstrip() for line in result.output.replace(str(out), "/tmp/expr.json").splitlines()]
    assert printed == console_block(SCORE)


def test_score_json_excerpt_is_the_written_json(run, tmp_path):
    out = tmp_path / "expr.json"
    assert run(SCORE, **{"/tmp/expr.json": str(out)}).exit_code == 0
    written = json.loads(out.read_text())
    excerpt = json.loads(re.search(r"```json\n(\{\"track\": \"expr\".*?)\n```", README, re.S).group(1))
    for key in ("track", "edition", "split", "n_videos", "n_frames"):
        assert written[key] == excerpt[key], key
    assert written["metrics"] == pytest.approx(excerpt["metrics"], abs=1e-15)
    for video, entry in excerpt["per_video"].items():
        if video != "...":
            assert written["per_video"][video] == pytest.approx(entry, abs=1e-15)
    for name, (low, high) in excerpt["ci95"].items():  # the README rounds the interval to 4 decimals
        assert [round(v, 4) for v in written["ci95"][name]] == [low, high], name
    for key in excerpt:  # the keys the README names are the JSON's
        assert key == "..." or key in written


BROKEN = "abawbench score broken/il-missing-frame.txt --data data/abaw6 --track va --edition abaw6"


def test_broken_example_message_and_exit_code(run):
    result = run(BROKEN)
    assert result.output.strip() == console_block(BROKEN)[0]  # the block ends at "$ echo $?"
    lines = README.splitlines()
    assert lines[lines.index("$ echo $?") + 1].strip() == str(result.exit_code) == "2"


VALIDATE = ("abawbench validate valid/abaw6-au.txt --track au --edition abaw6 --template "
            "data/abaw6/prediction_files_format/CVPR_6th_ABAW_AU_test_set_sample.txt")


def test_validate_example(run):
    result = run(VALIDATE)
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()) == " ".join(" ".join(console_block(VALIDATE)).split())


def number(cell: str) -> int:
    """A count as rich prints it (thousands separated by commas)."""
    return int(cell.replace(",", ""))


def readme_table(after: str) -> list[list[str]]:
    """Cells of the rich table rows (``│ a │ b │``) of the console block after ``$ <after>``."""
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in console_block(after)
            if line.startswith("│")]


@pytest.mark.slow
def test_data_check_and_splits_examples_are_the_demo_datasets(tmp_path):
    """``make demo`` synthesises the demo size (seed 0) and checks and splits the ABAW2
    layout; the README's tables are those numbers."""
    from abawbench.data import affwild2
    from abawbench.data.synth import synthesize

    synthesize(tmp_path, preset="demo")
    root = tmp_path / "affwild2_abaw2"
    report = affwild2.check(root)
    folders = {"AU": "AU_Set", "EXPR": "EXPR_Set", "VA": "VA_Set"}
    rows = readme_table("abawbench data check demo/data/affwild2_abaw2")
    split_rows = [r for r in rows if len(r) == 8 and r[0] in folders]
    assert len(split_rows) == 6
    for track, split, videos, lines, valid, invalid, with_crop, _ in split_rows:
        found = report["tracks"][track.lower()][split]
        assert [found["videos"], found["annotation_lines"], found["valid"], found["invalid"],
                found["valid_with_crop"]] == [number(videos), number(lines), number(valid), number(invalid), number(with_crop)]
    problems = {r[0]: int(r[1]) for r in rows if len(r) == 3 and r[1].isdigit()}
    usual = sum(1 for m in report["count_mismatches"] if m["difference"] == 1)
    assert problems == {
        "missing crops (gaps in cropped_aligned)": report["crops"]["missing"],
        "unreadable crops (JPEG start/end markers)": len(report["crops"]["unreadable"]),
        "annotation lines = last crop + 1 (usual)": usual,
        "annotation lines ≠ last crop (+ 1)": len(report["count_mismatches"]) - usual,
        "unknown headers": len(report["unknown_headers"]),
        "annotated videos without crops": len(report["videos"]["annotated_without_crops"]),
    }
    written = affwild2.write_standard_splits(affwild2.index(root, cache=False), tmp_path / "splits")
    shown = {r[0]: int(r[1]) for r in readme_table("abawbench data splits demo/data/affwild2_abaw2 --out splits-demo")
             if len(r) == 2 and r[1].isdigit()}
    assert shown == written
