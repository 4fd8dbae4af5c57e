# The plan of the validated study, and helpers shared by the rules: every job's spec and inputs come from the
# plan (sciml/workflow/plan.py).

import sys

from snakemake.exceptions import WorkflowError

from sciml.errors import ConfigError
from sciml.workflow.config_files import load_study_config
from sciml.workflow.jobs import members_pattern
from sciml.workflow.plan_cache import load_plan

try:
    # One merge rule, shared with `sciml check`: the default, then each --configfile in command-line order, then
    # --config. Snakemake's own merge cannot drop the default study's diagnostics when a file brings other studies.
    merged, source = load_study_config(
        DEFAULT_CONFIG,
        workflow.config_settings.configfiles,
        workflow.config_settings.config,
        workflow.config_settings.replace_workflow_config,
    )
    # validated and planned once per configuration and code: later starts (under SLURM, every job) load both
    study, PLAN = load_plan(merged, source)
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


wildcard_constraints:
    problem="[^/]+",
    product="[^/]+",
    key="[^/]+",
    model="[^/]+",
    strategy="[^/]+",
    cell="[^/]+",
    batch="[^/]+",
    comparison="[^/]+",
    family="[^/]+",
    name="[^/]+",


def spec_of(kind, pattern):
    """A params function giving the JSON spec of the job whose output ``pattern`` names.

    It takes only wildcards: Snakemake leaves params computed from input or output out of its params
    rerun trigger, and the spec is exactly what must trigger reruns.
    """

    def spec(wildcards):
        return PLAN.lookup(kind, pattern.format(**wildcards)).spec_json

    return spec


def inputs_of(kind, pattern):
    """An input function giving the inputs the plan lists for the output named by ``pattern``."""

    def inputs(wildcards):
        return list(PLAN.lookup(kind, pattern.format(**wildcards)).inputs)

    return inputs
