"""Published leaderboards: every row sourced, the boards printed as the CSVs hold them, and a
run placed among them with its caveats said plainly."""

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from abawbench import leaderboard
from abawbench.cli import main

from run_folders import make_run

BOARDS = Path(__file__).resolve().parent.parent / "abawbench" / "leaderboards"


def read_csv(name):
    with open(BOARDS / f"{name}.csv", newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], env={"COLUMNS": "250"})


def test_every_row_of_every_board_carries_a_source_edition_split_and_team():
    files = sorted(BOARDS.glob("*.csv"))
    assert {"abaw2-expr.csv", "abaw2-va.csv"} <= {f.name for f in files}
    for path in files:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        assert rows, path
        for row in rows:
            assert row["source"].strip(), (path, row)
            assert row["split"] in ("test", "validation") and row["team"].strip()
            assert row["edition"].startswith("abaw") and row["track"] == path.stem.split("-")[1]
        leaderboard.load_board(path.stem)  # and the reader accepts it


def test_the_seed_papers_table_4_is_on_the_abaw2_boards():
    # the seed paper's own test numbers (docs/method.md): F1 0.351, Acc 0.668, criterion 0.456;
    # valence 0.505, arousal 0.475, mean 0.490
    expr = {r["team"]: r for r in read_csv("abaw2-expr") if r["split"] == "test"}
    va = {r["team"]: r for r in read_csv("abaw2-va") if r["split"] == "test"}
    seed = "Vu et al. (seed paper)"
    assert [float(expr[seed][k]) for k in ("f1", "acc", "criterion")] == [0.351, 0.668, 0.456]
    assert [float(va[seed][k]) for k in ("valence", "arousal", "mean")] == [0.505, 0.475, 0.490]
    assert len(expr) == 8 and len(va) == 8  # Table 4: 9 teams, FlyingPigs without EXPR, CPIC-DIR2021 without VA
    assert "FlyingPigs" not in expr and "CPIC-DIR2021" not in va
    # the paper says 3rd in VA among ABAW 2021 entries: the board agrees
    ranked = leaderboard.load_board("abaw2-va").ranked("test")
    assert [r["team"] for r in ranked if r["edition"] == "abaw2"].index(seed) == 2


def test_the_disputed_va_baseline_carries_both_sources():
    baselines = [r for r in read_csv("abaw2-va") if r["split"] == "validation" and r["team"].startswith("baseline")]
    assert {(r["valence"], r["arousal"]) for r in baselines} == {("0.23", "0.21"), ("0.21", "0.23")}
    assert len({r["source"] for r in baselines}) == 2


@pytest.mark.parametrize("name, main", [("abaw2-expr", "criterion"), ("abaw2-va", "mean")])
def test_leaderboard_prints_the_published_rows_ranked_by_the_official_metric(cli, name, main):
    result = cli("leaderboard", name)
    assert result.exit_code == 0, result.output
    rows = read_csv(name)
    for row in rows:
        assert row["team"] in result.output
        for metric in [k for k in row if k not in ("edition", "track", "split", "team", "source", "note")]:
            if row[metric]:
                assert f"{float(row[metric]):.4g}" in result.output, (row["team"], metric)
    lines = result.output.splitlines()
    test_rows = sorted((r for r in rows if r["split"] == "test"), key=lambda r: -float(r[main]))
    positions = [next(i for i, line in enumerate(lines) if r["team"] in line) for r in test_rows]
    assert positions == sorted(positions)  # printed best first
    for source in {r["source"] for r in rows}:
        assert source in result.output


def test_leaderboard_without_name_lists_the_boards(cli, tmp_path):
    result = cli("leaderboard", "--json", tmp_path / "b.json")
    assert result.exit_code == 0
    names = [b["name"] for b in json.loads((tmp_path / "b.json").read_text())["boards"]]
    assert names == sorted(p.stem for p in BOARDS.glob("*.csv"))
    for name in names:
        assert name in result.output


def test_a_synthetic_validation_run_is_placed_with_both_caveats(synthetic_data, tmp_path, cli):
    root = synthetic_data[0] / "affwild2_abaw2"
    run = make_run(tmp_path / "my-run", root, quality=0.95)
    board = leaderboard.load_board("abaw2-expr")
    placement = leaderboard.place(run, board)
    criterion = json.loads((run / "scores" / "validation-expr.json").read_text())["metrics"]["criterion"]
    test_values = [float(r["criterion"]) for r in read_csv("abaw2-expr") if r["split"] == "test"]
    assert placement.value == criterion
    assert placement.rank["test"] == 1 + sum(v > criterion for v in test_values)
    assert any(m.startswith("validation numbers") for m in placement.marks)
    assert any(m.startswith("synthetic data") for m in placement.marks)
    result = cli("leaderboard", "abaw2-expr", "--run", run, "--json", tmp_path / "p.json")
    assert result.exit_code == 0, result.output
    assert "my-run (VALIDATION, SYNTHETIC)" in result.output
    assert f"would rank {placement.rank['test']} of {len(test_values) + 1} among the test rows" in result.output
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["placement"]["rank"]["test"] == placement.rank["test"]


def test_a_real_data_score_json_is_marked_validation_only(tmp_path):
    from abawbench import scoring

    examples = Path(__file__).resolve().parent.parent / "submissions"
    path = tmp_path / "va.json"
    path.write_text(json.dumps(scoring.score(examples / "valid/abaw2-va", examples / "data/abaw2", "va")))
    placement = leaderboard.place(path, leaderboard.load_board("abaw2-va"))
    assert placement.synthetic is False
    assert len(placement.marks) == 1 and placement.marks[0].startswith("validation numbers")


def test_an_entry_of_another_metric_cannot_be_placed(synthetic_data, tmp_path, cli):
    from abawbench import scoring

    root = synthetic_data[0] / "affwild2_abaw6"
    from run_folders import predictions_for, write_predictions

    folder = write_predictions(tmp_path / "p", "expr", predictions_for(root, "expr", 0.5, 0, "abaw6"), "abaw6")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scoring.score(folder, root, "expr", "abaw6")))
    result = cli("leaderboard", "abaw2-expr", "--run", path)
    assert result.exit_code == 2 and "no 'criterion'" in result.output
    result = cli("leaderboard", "abaw9-expr")
    assert result.exit_code == 2 and "no leaderboard 'abaw9-expr'" in result.output


def test_a_row_without_source_is_refused_with_file_and_line(tmp_path):
    (tmp_path / "abaw2-va.csv").write_text("edition,track,split,team,mean,source,note\n"
                                           "abaw2,va,test,A,0.4,somewhere,\nabaw2,va,test,B,0.5,,\n")
    with pytest.raises(leaderboard.LeaderboardError, match=r"abaw2-va.csv:3: a row without a source"):
        leaderboard.load_board("abaw2-va", tmp_path)
    (tmp_path / "abaw2-va.csv").write_text("edition,track,split,team,mean,source,note\n"
                                           "abaw2,va,dev,A,0.4,somewhere,\n")
    with pytest.raises(leaderboard.LeaderboardError, match="abaw2-va.csv:2: expected split test or validation"):
        leaderboard.load_board("abaw2-va", tmp_path)
