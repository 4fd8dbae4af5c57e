"""Bad configurations fail before any job runs, naming the file, the key and what is allowed."""

import copy
from pathlib import Path

import pytest
import yaml

from sciml.workflow.config import ConfigError, validate
from sciml.workflow.config_files import (
    load_config_file,
    load_study_config,
    merge_config_files,
    merge_configs,
    study_config_files,
)
from sciml.workflow.plan import build_plan

from conftest import REPO

SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())


def broken(edit):
    config = copy.deepcopy(SMOKE)
    edit(config)
    return config


def set_in(path, value):
    def edit(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def delete(path):
    def edit(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


STUDY = ["studies", 0]
CASES = [
    # (edit, words the message must contain)
    (set_in(STUDY + ["problem"], "heat"), ["studies[0].problem", "unknown problem 'heat'", "convection"]),
    (set_in(STUDY + ["model"], "fno"), ["studies[0].model", "unknown model 'fno'", "pinn"]),
    (set_in(STUDY + ["strategies"], ["lbfgs", "sgd"]), ["studies[0].strategies", "unknown strategy 'sgd'"]),
    (set_in(["strategies", "adam", "method"], "adamw"), ["strategies.adam", "unknown strategy method 'adamw'"]),
    (set_in(["strategies", "adam", "lr"], "1e-3"), ["strategies.adam", "'lr' must be a number", "1.0e-3"]),
    (set_in(["strategies", "lbfgs", "stepz"], 3), ["strategies.lbfgs", "stepz"]),
    (set_in(["models", "pinn", "architecture"], "transformer"), ["models.pinn", "unknown architecture"]),
    (set_in(["models", "pinn", "activation"], "swish"), ["models.pinn", "unknown activation 'swish'"]),
    (set_in(["problems", "convection", "grid_x"], "257"), ["problems.convection", "'grid_x' must be a number"]),
    (set_in(["problems", "burgers"], {}), ["problems.burgers", "unknown problem"]),
    (set_in(STUDY + ["axes"], {"beta": [5], "rho": [1]}), ["studies[0].axes", "['beta', 'n_f']"]),
    (set_in(STUDY + ["axes", "beta"], ["5", 30]), ["studies[0].axes.beta[0]", "is not of type 'number'"]),
    (set_in(STUDY + ["axes", "beta"], []), ["studies[0].axes.beta", "should be non-empty"]),
    (set_in(STUDY + ["axes", "beta"], [5, 5.0]), ["studies[0].axes.beta", "non-unique"]),
    (set_in(STUDY + ["axes", "n_f"], [100, 30000]), ["studies[0].axes.n_f", "between 1 and 25500"]),
    (set_in(STUDY + ["axes", "n_f"], [10.5]), ["studies[0].axes.n_f", "whole number"]),
    (delete(STUDY + ["thresholds"]), ["studies[0]", "'thresholds' is a required property"]),
    (set_in(STUDY + ["thresholds"], {"lbfgs": {"train_loss": 0.004, "test_error": 0.2}}),
     ["studies[0].thresholds", "no regime thresholds for strategy 'adam'"]),
    (set_in(STUDY + ["thresholds", "default", "train_loss"], -1), ["train_loss", "less than or equal to the minimum"]),
    (set_in(STUDY + ["overrides"], {"rmsprop": {"steps": 3}}), ["studies[0].overrides.rmsprop", "not one of this study"]),
    (set_in(STUDY + ["overrides"], {"nncg": {"steps": 3}}), ["studies[0].overrides.nncg", "sum of"]),
    (set_in(STUDY + ["overrides"], {"adam": {"lr": "fast"}}), ["studies[0].overrides.adam", "'lr' must be a number"]),
    (set_in(STUDY + ["baseline"], "sgd"), ["studies[0].baseline", "'sgd' is not one of this study's strategies"]),
    (set_in(["seeds"], [0, 0]), ["seeds", "non-unique"]),
    (set_in(["studies"], []), ["studies", "should be non-empty"]),
    (set_in(["threads"], 0), ["threads", "less than the minimum"]),
    # an empty results folder made every path absolute ('/cells/...'): Snakemake said MissingInputException
    (set_in(["results"], ""), ["results: '' should be non-empty"]),
    (set_in(["colour"], "red"), ["Additional properties are not allowed ('colour' was unexpected)"]),
    (lambda c: c["studies"].append(copy.deepcopy(c["studies"][0])), ["studies[1]", "already studied in studies[0]"]),
    # numbers YAML reads as strings, wherever they are; whole numbers where a count is meant
    (set_in(STUDY + ["thresholds", "default", "test_error"], "2e-1"),
     ["studies[0].thresholds.default.test_error", "'2e-1' is not of type 'number'", "write 1.0e-3"]),
    (set_in(["regimes"], {"smoothing_sigma": "7e-1"}), ["regimes.smoothing_sigma", "not of type 'number'", "1.0e-3"]),
    (set_in(["threads"], "2"), ["threads", "'2' is not of type 'integer'", "without quotes"]),
    (set_in(["checkpoint_every"], "1e2"), ["checkpoint_every", "not of type 'number'", "1.0e-3"]),
    (set_in(["checkpoint_every"], -1), ["checkpoint_every", "less than the minimum of 0"]),
    (set_in(["problems", "convection", "sampling_seed"], "0"), ["problems.convection", "'sampling_seed' must be a number"]),
    (set_in(["strategies", "lbfgs", "steps"], 15.5), ["strategies.lbfgs", "'steps' must be a whole number >= 0"]),
    (set_in(["strategies", "lbfgs", "steps"], -3), ["strategies.lbfgs", "'steps' must be a whole number >= 0"]),
    (set_in(["strategies", "adam", "log_every"], 0), ["strategies.adam", "'log_every' must be a whole number >= 1"]),
    (set_in(["strategies", "adam", "snapshots"], 0), ["strategies.adam", "'snapshots' must be a whole number >= 1"]),
    (set_in(["strategies", "adam_lbfgs", "adam_steps"], 2.5), ["strategies.adam_lbfgs", "'adam_steps' must be a whole"]),
    (set_in(["strategies", "lbfgs", "steps"], True), ["strategies.lbfgs", "'steps' must be a number, got True"]),
    # settings torch would reject inside a job: refused up front, naming the key and what is allowed
    (set_in(["strategies", "adam", "lr"], -1.0), ["strategies.adam", "'lr' must be a number >= 0, got -1.0"]),
    (set_in(["strategies", "lbfgs", "line_search"], "wolfe"),
     ["strategies.lbfgs", "'line_search' must be one of ['none', 'strong_wolfe'], got 'wolfe'"]),
    (set_in(["strategies", "lbfgs", "lr"], 0.0), ["strategies.lbfgs", "'lr' must be a number > 0, got 0.0"]),
    (set_in(["strategies", "lbfgs", "history_size"], 0), ["strategies.lbfgs", "'history_size' must be a whole number >= 1"]),
    (set_in(["strategies", "lbfgs", "max_iter"], 2.5), ["strategies.lbfgs", "'max_iter' must be a whole number >= 1"]),
    (set_in(["strategies", "adam", "betas"], [0.9, 1.0]), ["strategies.adam", "'betas' must be two numbers in [0, 1)"]),
    (set_in(["strategies", "adam", "eps"], -1e-8), ["strategies.adam", "'eps' must be a number >= 0"]),
    (set_in(["strategies", "adam_lbfgs", "lbfgs_lr"], -0.5), ["strategies.adam_lbfgs", "'lbfgs_lr' must be a number > 0"]),
    (set_in(["strategies", "nncg", "line_search"], "wolfe"), ["strategies.nncg", "'line_search' must be one of"]),
    (set_in(STUDY + ["overrides"], {"adam": {"lr": -1.0}}), ["studies[0].overrides.adam", "'lr' must be a number >= 0"]),
    (set_in(["models", "pinn", "hidden"], [50, "50"]), ["models.pinn", "whole numbers >= 1", "[50, '50']"]),
    (set_in(["models", "pinn", "hidden"], [50, 0]), ["models.pinn", "whole numbers >= 1"]),
    (set_in(["models", "pinn", "dtype"], "float16"), ["models.pinn.dtype", "'float16' is not one of"]),
    (set_in(STUDY + ["axes", "n_f"], []), ["studies[0].axes.n_f", "should be non-empty"]),
    (set_in(STUDY + ["seeds"], [1, 1]), ["studies[0].seeds", "non-unique"]),
    (set_in(STUDY + ["strategies"], []), ["studies[0].strategies", "should be non-empty"]),
    (set_in(["strategies", "sgd"], {"steps": 3}), ["strategies.sgd", "'method' is a required property"]),
    # per-cell settings: the cells must be on the grid and the settings must build
    (set_in(STUDY + ["cell_overrides"], [{"where": {"rho": 1}, "settings": {"lbfgs": {"steps": 5}}}]),
     ["studies[0].cell_overrides[0].where.rho", "not an axis of this study ['beta', 'n_f']"]),
    (set_in(STUDY + ["cell_overrides"], [{"where": {"beta": [5, 7]}, "settings": {"lbfgs": {"steps": 5}}}]),
     ["studies[0].cell_overrides[0].where.beta", "value(s) [7] are not on the grid [5, 30]"]),
    (set_in(STUDY + ["cell_overrides"], [{"where": {"beta": 5}, "settings": {"sgd": {"steps": 5}}}]),
     ["studies[0].cell_overrides[0].settings.sgd", "not one of this study's strategies"]),
    (set_in(STUDY + ["cell_overrides"], [{"where": {"beta": 5}, "settings": {"lbfgs": {"steps": -5}}}]),
     ["studies[0].cell_overrides[0].settings.lbfgs", "'steps' must be a whole number >= 0"]),
    (set_in(STUDY + ["cell_overrides"], [{"where": {"beta": 5}}]),
     ["studies[0].cell_overrides[0]", "'settings' is a required property"]),
    (set_in(STUDY + ["cell_overrides"], [{"where": {"beta": 5}, "settings": {"adam": {"schedule": "cosine"}}},
                                         {"where": {"n_f": 100}, "settings": {"adam": {"lr_decay": 0.99}}}]),
     ["studies[0].cell_overrides (cell beta=5, n_f=100, strategy adam)", "either schedule 'cosine' or an lr_decay"]),
]


@pytest.mark.parametrize("edit, words", CASES)
def test_bad_config_is_named(edit, words):
    with pytest.raises(ConfigError) as raised:
        validate(broken(edit), source="config/smoke.yaml")
    message = str(raised.value)
    assert message.startswith("config/smoke.yaml: ")
    for word in words:
        assert word in message, message


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "smoke.yaml"):
        config = validate(load_config_file(REPO / "config" / name), source=name)
        assert build_plan(config).cells
    paper = merge_configs(load_config_file(REPO / "config" / "config.yaml"),
                          load_config_file(REPO / "config" / "paper.yaml"))
    plan = build_plan(validate(paper, source="paper"))
    assert len(plan.cells) >= 12 * 12


def test_defaults_and_canonical_values():
    config = broken(set_in(STUDY + ["axes", "beta"], [5.0, 7.5]))
    del config["seeds"]
    config = validate(config)
    assert config["studies"][0]["axes"]["beta"] == [5, 7.5]
    assert type(config["studies"][0]["axes"]["beta"][0]) is int
    assert config["studies"][0]["seeds"] == [0]
    assert config["results"] == "results"


def test_unreadable_file_is_named(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("studies: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: cannot read"):
        load_config_file(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config_file(path)


def test_merge_replaces_lists_and_merges_mappings():
    base = {"a": {"x": 1, "y": 2}, "studies": [1, 2]}
    merge_configs(base, {"a": {"y": 3}, "studies": [9]})
    assert base == {"a": {"x": 1, "y": 3}, "studies": [9], "diagnostics": {}}


def test_diagnostics_follow_the_file_that_sets_the_studies(tmp_path):
    """The default study's diagnostics select its own cells: a file with other studies drops them (or brings its
    own); a file without studies merges into them like any mapping."""
    default = tmp_path / "default.yaml"
    default.write_text("studies: [a]\ndiagnostics: {maps: {kind: curvature, select: [a]}, cka: {kind: similarity}}\n")
    other = tmp_path / "other.yaml"
    other.write_text("studies: [b]\n")
    assert merge_config_files([default, other])["diagnostics"] == {}
    other.write_text("studies: [b]\ndiagnostics: {maps: {select: [b]}}\n")
    assert merge_config_files([default, other])["diagnostics"] == {"maps": {"select": ["b"]}}
    other.write_text("diagnostics: {maps: {select: [c]}}\n")
    assert merge_config_files([default, other])["diagnostics"] == {
        "maps": {"kind": "curvature", "select": ["c"]}, "cka": {"kind": "similarity"}}
    smoke = merge_config_files([REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml"])
    assert smoke["diagnostics"] == {} and validate(smoke, source="smoke")


def test_cell_overrides_change_only_the_cells_they_match():
    config = copy.deepcopy(SMOKE)
    study = config["studies"][0]
    study["overrides"] = {"lbfgs": {"steps": 7}}
    study["cell_overrides"] = [
        {"where": {"n_f": 100.0}, "settings": {"lbfgs": {"steps": 40}}},
        {"where": {"beta": [5], "n_f": [100]}, "settings": {"lbfgs": {"max_iter": 5}, "adam": {"lr": 0.01}}},
    ]
    plain = build_plan(validate(copy.deepcopy(SMOKE)))
    plan = build_plan(validate(config))
    cells = "results/cells/pinn/convection/{}/beta={}__n_f={}.nc"

    def settings(strategy, beta, n_f, of=plan):
        return of.cells[cells.format(strategy, beta, n_f)].spec["strategy_settings"]

    assert settings("lbfgs", 5, 100)["steps"] == 40 and settings("lbfgs", 5, 100)["max_iter"] == 5
    assert settings("lbfgs", 30, 100)["steps"] == 40 and settings("lbfgs", 30, 100)["max_iter"] == 20
    assert settings("lbfgs", 5, 300)["steps"] == 7
    assert settings("adam", 5, 100)["lr"] == 0.01
    # an override that matches no strategy of a cell leaves its spec exactly as without it
    assert settings("adam", 30, 300) == settings("adam", 30, 300, of=plain)
    assert plan.cells[cells.format("adam", 30, 300)].spec == plain.cells[cells.format("adam", 30, 300)].spec


DEFAULT = REPO / "config" / "config.yaml"


def test_the_default_config_comes_first_whatever_the_order_given(tmp_path, monkeypatch):
    """Snakemake 9 lists the command-line files before the workflow's own; the merge must not care."""
    smoke, paper = REPO / "config" / "smoke.yaml", REPO / "config" / "paper.yaml"
    assert study_config_files(DEFAULT, [smoke]) == [DEFAULT, smoke]
    assert study_config_files(DEFAULT, [smoke, DEFAULT]) == [DEFAULT, smoke]
    assert study_config_files(DEFAULT, [DEFAULT, paper, smoke]) == [DEFAULT, paper, smoke]
    monkeypatch.chdir(REPO)  # the same file named relatively is still the default
    assert study_config_files("config/config.yaml", ["config/smoke.yaml", "config/config.yaml"]) == [
        DEFAULT, Path("config/smoke.yaml")]
    assert study_config_files(DEFAULT, [smoke], replace_default=True) == [smoke]


def test_every_configfile_pair_of_the_readme_validates_as_snakemake_runs_it(monkeypatch):
    monkeypatch.chdir(REPO)
    smoke, source = load_study_config(DEFAULT, ["config/smoke.yaml"])
    assert source == "config/config.yaml + config/smoke.yaml"
    assert smoke["diagnostics"] == {} and smoke["studies"] == load_config_file(REPO / "config" / "smoke.yaml")["studies"]
    assert load_study_config(DEFAULT, ["config/config.yaml", "config/smoke.yaml"])[0] == smoke
    assert load_study_config(DEFAULT, ["config/smoke.yaml", "config/config.yaml"])[0] == smoke
    for files in ([], ["config/smoke.yaml"], ["config/paper.yaml"]):
        config, source = load_study_config(DEFAULT, files)
        assert build_plan(validate(config, source=source)).cells


def test_command_line_overrides_come_last_and_missing_files_are_named(tmp_path):
    config, source = load_study_config(DEFAULT, [REPO / "config" / "smoke.yaml"], {"seeds": [7], "threads": 2})
    assert config["seeds"] == [7] and config["threads"] == 2 and source.endswith(" + --config")
    with pytest.raises(ConfigError, match="missing.yaml: no such configuration file"):
        load_study_config(DEFAULT, [tmp_path / "missing.yaml"])


def test_sciml_check_names_the_file_and_line_snakemake_cannot(tmp_path, capsys, monkeypatch):
    """Snakemake reads each --configfile itself, before the workflow: a YAML syntax error gets no file or line,
    a missing file a traceback. `sciml check FILE` names both, as the README's "When things go wrong" says."""
    from sciml.cli import main

    monkeypatch.chdir(REPO)
    broken = tmp_path / "study.yaml"
    broken.write_text("seeds: [0, 1\nthreads: 2\n")
    assert main(["check", str(broken)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"sciml check: error: {broken}: cannot read the configuration") and "line 1" in error
    assert main(["check", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err == f"sciml check: error: {tmp_path / 'missing.yaml'}: no such configuration file\n"
    broken.write_text("results: ''\n")
    assert main(["check", str(broken)]) == 2
    assert "results: '' should be non-empty" in capsys.readouterr().err
