"""sciml-regimes: generated data -> one training job per grid cell -> regime datasets -> figures.

Run `snakemake --cores 8 figures` for the default study (config/config.yaml); `--configfile FILE` merges
another study over it (its `studies` list replaces the default one, and its `diagnostics` the default's). All logic lives in the `sciml`
package; the rules only call `python -m sciml VERB` with the spec the plan computed for each job.
"""

import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from sciml.config import ConfigError, load_study_config, validate
from sciml.plan import build_plan

min_version("8.0")

# The default study lies beside this file, so the workflow finds it from any working directory.
DEFAULT_CONFIG = Path(workflow.basedir) / "config" / "config.yaml"


configfile: DEFAULT_CONFIG


try:
    # One merge rule, shared with `sciml check`: the default, then each --configfile in command-line order, then
    # --config. Snakemake's own merge cannot drop the default study's diagnostics when a file brings other studies.
    study, source = load_study_config(DEFAULT_CONFIG, workflow.config_settings.configfiles,
                                      workflow.config_settings.config, workflow.config_settings.replace_workflow_config)
    study = validate(study, source=source)
    PLAN = build_plan(study)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
# the rules read the validated configuration (defaults filled in), not Snakemake's own merge
config.clear()
config.update(study)

# A result deleted while results made from it remain would never come back: Snakemake calls a job up to date
# when its output exists, even if an input it could rebuild is missing. The `figures` target asks for such
# files by name, which rebuilds them and everything made from them.
MISSING = PLAN.missing_intermediates()
for path, made in sorted(MISSING.items()):
    print(f"{path} is missing while {made}, made from it, exists: rebuilding both", file=sys.stderr)
RESULTS = PLAN.results


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/diagnostics.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        rules.figures.input,
