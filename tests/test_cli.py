"""The user-facing `sciml` commands on a results folder with exactly known regimes and guidance."""

from __future__ import annotations

import pytest

from sciml.cli import main

from support import write_results


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("cli") / "results")
    write_results(root)
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_show_prints_labels_means_and_confidence(results, capsys):
    code, out, _ = run(capsys, "show", f"{results}/regimes/m/p3/lbfgs.nc")
    assert code == 0
    lines = out.splitlines()
    assert "tau_L = 0.01, tau_E = 0.1" in lines[0]
    assert "beta \\ n_f" in lines[2] and "10" in lines[2] and "20" in lines[2]
    # p3 is the two-seed study of test_analysis: no robustness file for it, and one diverged seed at (2, 20)
    assert lines[3].split() == ["1", "I", "1.0e-04", "II", "5.0e-01"]
    assert lines[4].split() == ["2", "III", "1.0e-03", "I", "6.0e-03", "\u20201/2"]
    code, out, _ = run(capsys, "show", f"{results}/regimes/m/p1/lbfgs.nc", "--metric", "test_error")
    assert code == 0 and "(label confidence)" in out
    assert out.splitlines()[3].split() == ["1", "II", "9.0e-01", "(1.00)", "III", "5.0e-01", "(1.00)"]


def test_advise_a_cell_recommends_the_significant_winner(results, capsys):
    code, out, _ = run(capsys, "advise", "--model", "m", "--problem", "p1", "--cell", "beta=1", "n_f=10",
                       "--metric", "train_loss", "--results", results)
    assert code == 0
    assert "labelled with lbfgs (tau_L = 0.01, tau_E = 0.1" in out
    assert "cell beta=1 n_f=10: regime II (under-trained)" in out and "8 of 8 seeds finished" in out
    assert "confidence: 1.00, the share of 100 random resamples of the 8 seeds that keep this label" in out
    assert "the label holds under 9 of 9 scalings" in out
    assert "avoid b: median 5.48x higher training loss than lbfgs over 8 seed pairs in 1 cell" in out
    assert "recommended: a: median 5.48x lower training loss than lbfgs" in out
    assert "Holm-adjusted p = 0.094" in out and "1 better, 0 worse" in out
    assert "at this cell: a changes the seed-mean training loss by -77% over 8 seed pairs, Wilcoxon p = 0.0078" in out
    assert "across problems" not in out  # the problem's own evidence suffices


def test_advise_says_when_nothing_is_significant(results, capsys):
    code, out, _ = run(capsys, "advise", "--model", "m", "--problem", "p1", "--cell", "beta=1", "n_f=20",
                       "--results", results)
    assert code == 0 and "regime III (over-trained)" in out
    assert "no strategy lowers the test error significantly below lbfgs; keep lbfgs or add seeds" in out
    assert "evidence across problems (p1 p2), cells where lbfgs is in regime III:" in out


def test_advise_a_measurement_and_a_problem_without_comparisons(results, capsys):
    code, out, _ = run(capsys, "advise", "--model", "m", "--problem", "p3", "--loss", "1e-3", "--error", "1.0",
                       "--metric", "train_loss", "--results", results)
    assert code == 0
    assert "measured training loss 0.001, test error 1: regime III (over-trained)" in out
    assert "the loss is 1.00 decades below tau_L, the error 1.00 decades above tau_E" in out
    assert "evidence on m / p3: none" in out
    assert "evidence across problems (p1 p2), cells where lbfgs is in regime III:" in out
    code, out, _ = run(capsys, "advise", "--model", "m", "--problem", "p3", "--loss", "1.0", "--error", "1.0",
                       "--metric", "train_loss", "--results", results)
    assert "regime II" in out and "recommended: a: median 9.49x lower training loss than lbfgs over 16 seed pairs" in out


def test_advise_errors_are_named(results, capsys, tmp_path):
    code, _, err = run(capsys, "advise", "--model", "m", "--problem", "p1", "--cell", "beta=3", "n_f=10",
                       "--results", results)
    assert code == 2 and "beta=3 is not in the grid; beta is one of [1.0]" in err
    code, _, err = run(capsys, "advise", "--model", "m", "--problem", "p1", "--cell", "rho=1", "n_f=10",
                       "--results", results)
    assert code == 2 and "the grid's axes are ['beta', 'n_f']" in err
    code, _, err = run(capsys, "advise", "--model", "m", "--problem", "p1", "--loss", "1", "--results", results)
    assert code == 2 and "give either --cell" in err
    code, _, err = run(capsys, "advise", "--model", "m", "--problem", "p1", "--cell", "beta=1", "n_f=10",
                       "--strategy", "c", "--results", results)
    assert code == 2 and "regimes/m/p1/c.nc: no such result file" in err
    code, _, err = run(capsys, "advise", "--model", "m", "--problem", "p9", "--loss", "1", "--error", "1",
                       "--results", str(tmp_path))
    assert code == 2 and "no regime datasets for model 'm' on problem 'p9'" in err


def test_the_command_line_starts_without_the_heavy_packages():
    """`sciml --help` and the verbs' parsing import neither torch nor xarray (16 s on a loaded machine before)."""
    import subprocess
    import sys

    probe = ("import sys, sciml.cli; sciml.cli.build_parser().format_help(); "
             "print(sorted(m for m in ('torch', 'xarray', 'matplotlib', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
