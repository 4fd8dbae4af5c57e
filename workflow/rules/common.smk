# Helpers shared by the rules: every job's spec and inputs come from the plan (sciml/plan.py).


from sciml.figures.captions import analysis_caption
from sciml.figures.captions import caption as figure_caption


wildcard_constraints:
    problem="[^/]+",
    product="[^/]+",
    key="[^/]+",
    model="[^/]+",
    strategy="[^/]+",
    cell="[^/]+",
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
