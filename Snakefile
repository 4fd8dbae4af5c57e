"""sciml-regimes: generated data -> one training job per grid cell -> regime datasets -> figures.

Run `snakemake --cores 8 figures` for the default study (config/config.yaml); `--configfile FILE` merges
another study over it (its `studies` list replaces the default one, and its `diagnostics` the default's). All logic lives in the `sciml`
package; the rules only call `python -m sciml VERB` with the spec the plan computed for each job.
"""

from pathlib import Path

from snakemake.utils import min_version

min_version("8.7")  # the update() flag of batch files (cells_together)

# The default study lies beside this file, so the workflow finds it from any working directory.
DEFAULT_CONFIG = Path(workflow.basedir) / "config" / "config.yaml"


configfile: DEFAULT_CONFIG


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
