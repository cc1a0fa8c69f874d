"""compare --table ablation: the paper's Tables 1-3 from run folders, ours beside the paper's."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from abawbench import ablation, tables
from abawbench.cli import main

from run_folders import make_run

# docs/method.md, "What the paper reports": EXPR criterion, valence, arousal
PAPER = {"Multitask T ∈ {1, 2}": (0.498, 0.374, 0.407), "Multitask T ∈ {1, 2, 3}": (0.513, 0.438, 0.398),
         "No sharing": (0.513, 0.472, 0.412), "With sharing": (0.525, 0.471, 0.421),
         "Teacher model": (0.555, 0.523, 0.543), "Student model": (0.555, 0.526, 0.551)}


@pytest.fixture(scope="module")
def runs(synthetic_data, tmp_path_factory):
    root = synthetic_data[0] / "affwild2_abaw2"
    out = tmp_path_factory.mktemp("ablation")
    folders = []
    for seed in range(2):
        folders.append(make_run(out / f"t12-s{seed}", root, seed=seed, tasks=(1, 2), stages=("cnn-teacher",),
                                quality=0.3 + 0.1 * seed))
        folders.append(make_run(out / f"noshare-s{seed}", root, seed=seed, shared=False, quality=0.5,
                                stages=("cnn-teacher", "cnn-student")))
        folders.append(make_run(out / f"full-s{seed}", root, seed=seed, gru=True, quality=0.7 + 0.1 * seed,
                                stages=("cnn-teacher", "cnn-student", "gru-teacher", "gru-student")))
    return folders


def stage_value(folder, stage, track, metric):
    return json.loads((folder / "scores" / f"{stage}-validation-{track}.json").read_text())["metrics"][metric]


def test_each_row_takes_its_stage_of_the_matching_runs(runs):
    result = ablation.ablation_table(runs)
    rows = {r["label"]: r for r in result["rows"]}
    assert list(rows) == list(PAPER)
    by_name = {f.name: f for f in runs}
    expected_runs = {"Multitask T ∈ {1, 2}": ("t12-s0", "t12-s1"),
                     "Multitask T ∈ {1, 2, 3}": ("noshare-s0", "noshare-s1"),  # full-sN: same seeds, counted once
                     "No sharing": ("noshare-s0", "noshare-s1"), "With sharing": ("full-s0", "full-s1"),
                     "Teacher model": ("full-s0", "full-s1"), "Student model": ("full-s0", "full-s1")}
    for label, row in rows.items():
        assert [m["run"].rsplit("/", 1)[-1] for m in row["runs"]] == list(expected_runs[label])
        for (track, metric, title), paper in zip(ablation.ABLATION_COLUMNS, PAPER[label]):
            values = [stage_value(by_name[name], row["stage"], track, metric) for name in expected_runs[label]]
            column = row["columns"][title]
            assert column["paper"] == paper
            assert column["mean"] == pytest.approx(np.mean(values), abs=1e-12)
            assert column["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
            assert column["n"] == 2
    assert result["baseline"]["paper"] == {"EXPR": 0.366, "Valence": 0.23, "Arousal": 0.21}
    assert any("counted once" in note for note in result["notes"])
    assert all(r["synthetic"] for r in result["rows"])


def test_orders_are_checked_against_the_papers(runs):
    result = ablation.ablation_table(runs)
    orders = {(o["table"].split(" ·")[0], o["column"]): o for o in result["orders"]}
    sharing = orders[("Table 2", "EXPR")]
    rows = {r["label"]: r for r in result["rows"]}
    ours = rows["With sharing"]["columns"]["EXPR"]["mean"] - rows["No sharing"]["columns"]["EXPR"]["mean"]
    assert sharing["delta"] == pytest.approx(ours, abs=1e-12)
    assert sharing["paper_delta"] == pytest.approx(0.525 - 0.513)
    assert sharing["same_sign_as_paper"] == (ours > 0)
    assert orders[("Table 3", "EXPR")]["same_sign_as_paper"] is None  # the paper has 0.555 twice
    assert "the paper has them equal" in orders[("Table 3", "EXPR")]["verdict"]


def test_run_json_stage_numbers_stand_in_for_missing_score_files(runs, tmp_path):
    import shutil

    folder = shutil.copytree(runs[0], tmp_path / "t12-s5")
    run = json.loads((folder / "run.json").read_text())
    run["seed"] = 5
    (folder / "run.json").write_text(json.dumps(run))
    for path in (folder / "scores").glob("cnn-teacher-*"):
        path.unlink()
    result = ablation.ablation_table([folder])
    row = result["rows"][0]
    assert row["columns"]["EXPR"]["values"] == [run["stages"]["cnn-teacher"]["validation"]["expr_criterion"]]
    assert any("from run.json" in note for note in result["notes"])


def test_ablation_in_every_format_and_from_the_command(runs, tmp_path):
    result = ablation.ablation_table(runs)
    with_sharing = next(r for r in result["rows"] if r["label"] == "With sharing")["columns"]["Valence"]
    cell = f"{with_sharing['mean']:.3f} ± {with_sharing['std']:.3f}"  # the paper's 3 decimals
    assert cell in tables.render(result, "markdown")
    assert cell.replace("±", r"$\pm$") in tables.render(result, "latex")
    assert "0.471" in tables.render(result, "markdown")  # the paper's number beside ours
    invoked = CliRunner().invoke(main, ["compare", *map(str, runs), "--table", "ablation", "--json",
                                        str(tmp_path / "a.json")], env={"COLUMNS": "200"})
    assert invoked.exit_code == 0, invoked.output
    assert cell in invoked.output and "Table 2" in invoked.output
    assert json.loads((tmp_path / "a.json").read_text())["kind"] == "abawbench-ablation"


def test_ablation_refuses_what_is_not_a_run_folder(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(Exception, match="takes run folders"):
        ablation.ablation_table([tmp_path / "x.json"])
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"kind": "abawbench-run", "config": {}}))
    invoked = CliRunner().invoke(main, ["compare", str(folder), "--table", "ablation"])
    assert invoked.exit_code == 2 and "no config.method" in invoked.output
