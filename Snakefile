"""sciml-regimes: generated data -> one training job per grid cell -> regime datasets -> figures.

Run `snakemake --cores 8 figures` for the default study (config/config.yaml); `--configfile FILE` merges
another study over it (its `studies` list replaces the default one, and its `diagnostics` the default's). All logic lives in the `sciml`
package; the rules only call `python -m sciml VERB` with the spec the plan computed for each job.
"""

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from sciml.config import ConfigError, merge_config_files, validate
from sciml.plan import build_plan

min_version("8.0")


configfile: "config/config.yaml"


try:
    # Snakemake merged the files key by key; diagnostics follow the file that set the studies (merge_configs)
    config["diagnostics"] = merge_config_files(workflow.configfiles).get("diagnostics", {})
    PLAN = build_plan(validate(config, source=" + ".join(map(str, workflow.configfiles)) or "config"))
except ConfigError as error:
    raise WorkflowError(str(error)) from None
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
