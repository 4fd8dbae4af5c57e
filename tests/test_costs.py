"""Summing Snakemake's per-job benchmark files into a study's cost table."""

from __future__ import annotations

import pytest

from sciml.results.store import ResultFileError
from sciml.workflow.costs import cost_table, grouped, job_costs, makespan, packed_hours

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write(path, wall, rss, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_costs_are_summed_per_group_with_the_peak_memory(tmp_path):
    bench = tmp_path / "benchmarks"
    write(bench / "cells/pinn/convection/lbfgs/beta=5__n_f=100.tsv", 10.5, 300, 9.0)
    write(bench / "cells/pinn/convection/lbfgs/beta=50__n_f=100.tsv", 20.0, 500, 18.5)
    write(bench / "cells/pinn/convection/adam/beta=5__n_f=100.tsv", 4.0, 200, 3.5)
    write(bench / "diagnostics/spectra/pinn/convection/lbfgs/beta=5__n_f=100.tsv", 7.0, 900, 6.0)
    costs = {cost.group: cost for cost in grouped(job_costs(tmp_path))}
    lbfgs = costs["cells/pinn/convection/lbfgs"]
    assert (lbfgs.jobs, lbfgs.wall_s, lbfgs.cpu_s, lbfgs.peak_rss_mb) == (2, 30.5, 27.5, 500)
    assert costs["diagnostics/spectra/pinn/convection"].jobs == 1
    by_kind = {cost.group: cost for cost in grouped(job_costs(tmp_path, depth=1))}
    assert by_kind["cells"].jobs == 3 and by_kind["cells"].cpu_s == 31.0
    table = cost_table(grouped(job_costs(tmp_path)))
    assert table.splitlines()[-1] == "| **total** | 4 | 42 | 37 | 900 |"


def test_a_broken_benchmark_file_is_named(tmp_path):
    broken = tmp_path / "benchmarks" / "cells" / "pinn" / "convection" / "lbfgs" / "x.tsv"
    broken.parent.mkdir(parents=True)
    broken.write_text("not a benchmark\n")
    with pytest.raises(ResultFileError, match="x.tsv: not a Snakemake benchmark file"):
        job_costs(tmp_path)
    with pytest.raises(ResultFileError, match="no benchmark files"):
        job_costs(tmp_path / "elsewhere")


def test_jobs_are_packed_longest_first_onto_the_core_free_soonest():
    # 3, 3 on the two cores; then 2, 2 make both 5; the last 2 makes one 7 (the best packing is 6: LPT's bound)
    assert makespan([2, 3, 2, 3, 2], cores=2) == 7
    assert makespan([5, 1, 1, 1], cores=3) == 5  # never below the longest job
    assert makespan([1.5] * 8, cores=8) == 1.5
    assert makespan([], cores=4) == 0
    with pytest.raises(ValueError, match="cores must be at least 1"):
        makespan([1.0], cores=0)


def test_the_packed_estimate_reads_the_benchmark_files(tmp_path):
    bench = tmp_path / "benchmarks"
    for i, (wall, cpu) in enumerate([(3600, 1800), (3600, 1800), (1800, 900)]):
        write(bench / f"cells/pinn/convection/lbfgs/cell{i}.tsv", wall, 100, cpu)
    sentence = packed_hours(job_costs(tmp_path), cores=2)
    assert "the 3 benchmarked jobs" in sentence
    assert "take 1.50 h by their wall times and 0.75 h by their CPU times" in sentence
    assert "longest job: 3,600 s, cells/pinn/convection/lbfgs" in sentence
