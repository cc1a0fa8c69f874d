"""report: the plots show what they claim (checked on the figures' data, against independent
recomputation), the page is self-contained, and matplotlib stays optional."""

import base64
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import confusion_matrix

from abawbench.cli import main
from abawbench.tracks import EXPR_CLASSES_7

from run_folders import make_run

pytest.importorskip("matplotlib")

from abawbench import compare, plots  # noqa: E402


@pytest.fixture(scope="module")
def root(synthetic_data):
    return synthetic_data[0] / "affwild2_abaw2"


@pytest.fixture(scope="module")
def run(root, tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("report") / "full-s0", root, gru=True, quality=0.7,
                    stages=("cnn-teacher", "cnn-student", "gru-teacher", "gru-student"))


def data_axes(figure):
    return [ax for ax in figure.axes if not hasattr(ax, "_colorbar")]


def assert_labelled_and_not_empty(figure, shared_x=False):
    axes = data_axes(figure)
    assert axes
    assert axes[-1].get_xlabel()
    for ax in axes:
        assert (ax.get_xlabel() or shared_x) and ax.get_ylabel() and ax.get_title(), ax
        drawn = len(ax.images) + len(ax.collections) + len([l for l in ax.lines if len(l.get_xdata())])
        assert drawn > 0, f"empty panel {ax.get_title()!r}"


def test_confusion_panels_are_sklearns_matrices_with_the_classes_named(run, root):
    scored = next(s for s in compare.load_entry(run, "run") if s.track == "expr")
    counts, normalised = plots.confusion_matrices(scored.statistics)
    truth = np.concatenate([np.loadtxt(p, skiprows=1, dtype=int).reshape(-1)
                            for p in sorted((root / "annotations/EXPR_Set/Validation_Set").glob("*.txt"))])
    prediction = np.concatenate([np.loadtxt(run / "predictions/validation/expr" / p.name, skiprows=1, dtype=int)
                                 .reshape(-1) for p in sorted((root / "annotations/EXPR_Set/Validation_Set").glob("*.txt"))])
    keep = truth != -1
    expected = confusion_matrix(truth[keep], prediction[keep], labels=range(7))
    assert (counts == expected).all()
    present = expected.sum(axis=1) > 0
    assert np.allclose(normalised[present], expected[present] / expected[present].sum(axis=1, keepdims=True))
    assert np.isnan(normalised[~present]).all()

    figure = plots.confusion_figure(scored.statistics, EXPR_CLASSES_7, "t")
    assert_labelled_and_not_empty(figure)
    for ax, matrix in zip(data_axes(figure), (counts, normalised)):
        assert [t.get_text() for t in ax.get_xticklabels()] == list(EXPR_CLASSES_7)
        assert [t.get_text() for t in ax.get_yticklabels()] == list(EXPR_CLASSES_7)
        shown = ax.images[0].get_array()
        assert np.allclose(np.ma.filled(shown, np.nan), matrix, equal_nan=True)


def test_va_density_holds_every_valid_frame(run, root):
    scored = next(s for s in compare.load_entry(run, "run") if s.track == "va")
    pairs, missing = plots._va_frames(scored, None)
    assert missing is None
    truth = np.concatenate([np.loadtxt(p, skiprows=1, delimiter=",", ndmin=2)
                            for p in sorted((root / "annotations/VA_Set/Validation_Set").glob("*.txt"))])
    prediction = np.concatenate([np.loadtxt(run / "predictions/validation/va" / p.name, skiprows=1, delimiter=",",
                                            ndmin=2)
                                 for p in sorted((root / "annotations/VA_Set/Validation_Set").glob("*.txt"))])
    keep = ~(truth == -5).any(axis=1)
    assert np.array_equal(pairs[0], truth[keep]) and np.allclose(pairs[1], prediction[keep])
    figure = plots.va_density_figure(*pairs, "t")
    assert_labelled_and_not_empty(figure)
    for ax, name in zip(data_axes(figure), ("valence", "arousal")):
        assert ax.get_xlabel() == f"true {name}" and ax.get_ylabel() == f"predicted {name}"
        assert ax.collections[0].get_array().sum() == keep.sum()  # every frame in one cell
        assert f"CCC {scored.metrics[name]:.3f}" in ax.get_title()


def test_training_curves_follow_metrics_jsonl(run):
    records = plots.read_metrics(run / "metrics.jsonl")
    figure = plots.training_figure(records, "t")
    assert_labelled_and_not_empty(figure, shared_x=True)
    loss_panel = data_axes(figure)[0]
    curves = {line.get_label(): line for line in loss_panel.lines if not line.get_label().startswith("_")}
    assert list(curves) == ["cnn-teacher", "cnn-student", "gru-teacher", "gru-student"]
    for offset, (stage, line) in enumerate(curves.items()):
        expected = [r["train"]["loss"] for r in records if r["stage"] == stage]
        assert list(line.get_ydata()) == expected
        assert list(line.get_xdata()) == [3 * offset + e for e in range(3)]  # stages one after another


def test_report_writes_the_plots_and_a_self_contained_page(run, root, tmp_path):
    moved = json.loads((run / "scores" / "validation-va.json").read_text())
    moved["predictions"] = str(tmp_path / "gone")
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(run), str(tmp_path / "moved.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == ["full-s0-expr-confusion.png", "full-s0-training.png", "full-s0-va-density.png",
                     "moved-va-means.png", "per-video-expr.png", "per-video-va.png"]
    page = (out / "index.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted((out / f).read_bytes() for f in files)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing outside the page
    for scored in compare.load_entry(run, "full-s0"):
        for value in scored.metrics.values():
            assert f"{value:.4f}" in page
    assert "Not drawn" in page and "no predictions at" in page
    assert "synthetic data" in page
    report = json.loads((out / "report.json").read_text())
    assert {i["file"] for i in report["images"]} == set(files)


def test_per_video_panels_hold_one_point_per_video(run, tmp_path):
    entries = [(s.label, s.per_video) for s in compare.load_entry(run, "full-s0") if s.track == "va"]
    figure = plots.per_video_figure(entries, ["mean", "valence", "arousal"], "t")
    assert_labelled_and_not_empty(figure)
    for ax, metric in zip(data_axes(figure), ("mean", "valence", "arousal")):
        points = ax.collections[0].get_offsets()[:, 0]
        assert sorted(points) == sorted(v[metric] for v in entries[0][1].values())


def test_report_without_matplotlib_says_how_to_get_it(run, tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from abawbench.cli import main\n"
            f"main(['report', {str(run)!r}, '--out', {str(tmp_path / 'r')!r}])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 2
    assert "pip install 'abawbench[plots]'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()


def test_no_other_command_imports_matplotlib_or_torch(run, tmp_path):
    code = ("import sys\n"
            "from click.testing import CliRunner\n"
            "from abawbench.cli import main\n"
            "import abawbench.compare, abawbench.leaderboard, abawbench.plots, abawbench.tables\n"
            f"r = CliRunner().invoke(main, ['compare', {str(run)!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            f"r = CliRunner().invoke(main, ['leaderboard', 'abaw2-va', '--run', {str(run)!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_report_never_replaces_a_folder_that_is_not_a_report(run, tmp_path):
    result = CliRunner().invoke(main, ["report", str(run), "--out", str(run)])
    assert result.exit_code == 2 and "neither empty nor an earlier report" in result.output
    assert (run / "run.json").is_file()
    out, score = tmp_path / "r", run / "scores" / "validation-expr.json"
    assert CliRunner().invoke(main, ["report", str(score), "--out", str(out)]).exit_code == 0
    again = CliRunner().invoke(main, ["report", str(score), "--out", str(out)])
    assert again.exit_code == 0, again.output  # an earlier report is replaced
