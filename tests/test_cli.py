"""The command line on the example submissions: valid ones score, broken ones exit 2."""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from abawbench.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "submissions"
CASES = json.loads((EXAMPLES / "broken" / "cases.json").read_text())


@pytest.fixture
def run(monkeypatch):
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args])

    return invoke


def test_every_broken_example_is_a_case_and_their_count_is_the_readmes():
    import re

    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    claimed = int(re.search(r"each has an example in `submissions/broken/`, (\d+) in all", readme).group(1))
    assert len(CASES) == len({case["name"] for case in CASES}) == claimed
    # every example on disk is a case that test_broken_submission_exits_2_naming_file_and_line runs
    on_disk = {p.name for p in (EXAMPLES / "broken").iterdir() if p.name != "cases.json"}
    assert {Path(case["path"]).name for case in CASES} == on_disk


def test_seed_option_reaches_the_bootstrap(run, tmp_path):
    intervals = {}
    for seed in ("0", "1", "1"):
        out = tmp_path / f"va-{seed}.json"
        result = run("score", "valid/abaw2-va", "--data", "data/abaw2", "--track", "va", "--bootstrap", 300,
                     "--seed", seed, "--json", out)
        assert result.exit_code == 0, result.output
        payload = json.loads(out.read_text())
        assert payload["bootstrap"]["seed"] == int(seed)
        intervals.setdefault(seed, []).append(payload["ci95"])
    assert intervals["0"][0] != intervals["1"][0] and intervals["1"][0] == intervals["1"][1]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_broken_submission_exits_2_naming_file_and_line(run, case, tmp_path):
    out = tmp_path / "score.json"
    if case["command"] == "score":
        result = run("score", case["path"], "--data", case["data"], "--track", case["track"],
                     "--edition", case["edition"], "--bootstrap", 0, "--json", out)
    else:
        reference = ["--template", case["template"]] if "template" in case else ["--data", case["data"]]
        result = run("validate", case["path"], "--track", case["track"], "--edition", case["edition"], *reference)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = result.output
    assert "Traceback" not in message
    assert case["expect"] in message
    location = case["file"] + (f":{case['line']}:" if case["line"] else ":")
    assert location in message
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("track", ["expr", "va", "au"])
def test_valid_examples_score_and_write_the_contract_json(run, tmp_path, track):
    out = tmp_path / "score.json"
    result = run("score", f"valid/abaw2-{track}", "--data", "data/abaw2", "--track", track, "--json", out)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    for key in ("track", "edition", "split", "n_videos", "n_frames", "metrics", "per_video", "ci95"):
        assert key in payload
    assert payload["n_videos"] == 3
    assert set(payload["ci95"]) == set(payload["metrics"])
    assert "lowest videos" in result.output
    single = run("score", f"valid/abaw6-{track}.txt", "--data", "data/abaw6", "--track", track, "--edition", "abaw6")
    assert single.exit_code == 0, single.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_validate_accepts_a_valid_file_with_the_template(run):
    result = run("validate", "valid/abaw6-expr.txt", "--track", "expr", "--edition", "abaw6", "--template",
                 "data/abaw6/prediction_files_format/CVPR_6th_ABAW_EXPR_test_set_sample.txt")
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_usage_errors_exit_2(run):
    assert run("score", "valid/abaw2-va", "--data", "data/abaw2", "--track", "xyz").exit_code == 2
    assert run("score", "no/such/folder", "--data", "data/abaw2", "--track", "va").exit_code == 2
    unknown = run("score", "valid/abaw2-va", "--data", "data/abaw2", "--track", "va", "--edition", "abaw0")
    assert unknown.exit_code == 2 and "unknown ABAW edition" in unknown.output


def test_scorer_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, abawbench.cli, abawbench.scoring; print('torch' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ).stdout
    assert output.strip() == "False"


def test_allocator_tuning_takes_effect_on_glibc():
    import platform

    from abawbench.runtime import tune_allocator

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert tune_allocator() is True


def test_validate_test_split_finds_the_organisers_files_under_the_data_root(run):
    found = run("validate", "valid/abaw6-va.txt", "--track", "va", "--edition", "abaw6", "--data", "data/abaw6",
                "--split", "test")
    assert found.exit_code == 0, found.output
    assert "CVPR_6th_ABAW_VA_test_set_sample.txt" in found.output
    broken = run("validate", "broken/il-template-mismatch.txt", "--track", "va", "--edition", "abaw6",
                 "--data", "data/abaw6", "--split", "test")
    assert broken.exit_code == 2 and "il-template-mismatch.txt:31:" in broken.output
    nothing = run("validate", "valid/abaw2-va", "--track", "va", "--data", "data/abaw2", "--split", "test")
    assert nothing.exit_code == 2 and "no organisers' VA test template" in nothing.output


def test_error_messages_show_the_users_text_verbatim(run, tmp_path):
    import shutil

    folder = tmp_path / "pred"
    shutil.copytree("valid/abaw2-va", folder)
    path = folder / "video10_1.txt"
    lines = path.read_text().splitlines()
    lines[3] = "[bold]0.1,0.2"
    path.write_text("\n".join(lines) + "\n")
    result = run("score", folder, "--data", "data/abaw2", "--track", "va")
    assert result.exit_code == 2 and "'[bold]0.1'" in result.output
